"""The cluster's CA and the API front's serving certificate (trustme), as a pod sees them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import trustme


@dataclass
class ClusterTLS:
    """A CA (its PEM goes into each pod's `ca.crt`) and a certificate for the front's address.

    The certificate names `127.0.0.1`, `localhost` and the in-cluster names of the API
    Service (`kubernetes.default.svc`, ...), so clients that verify the host name accept it.
    """

    hosts: tuple[str, ...] = (
        "127.0.0.1",
        "::1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self._cert = self.ca.issue_cert(*self.hosts)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM, the content of a service account's `ca.crt`."""
        return self.ca.cert_pem.bytes()

    def server_context(self) -> ssl.SSLContext:
        """The front's TLS context (HTTP/1.1; kube-apiserver also offers h2, clients fall back)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts the cluster CA (for the tests' own requests)."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx
