"""Bearer-token authentication of service accounts, with projected-token rotation.

As kube-apiserver does: the `Authorization` header's scheme is matched case-insensitively and
the token is the second space-separated word (`Bearer bearer <token>` authenticates the token
`bearer`, and fails). A service account's token file is rotated as the kubelet rotates a
projected token: a new token is written atomically, and the old one stays valid for a grace
period only (its expiry), after which it is refused with 401.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Where a pod finds its service-account files.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class ServiceAccount:
    """The identity a token stands for."""

    namespace: str
    name: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def groups(self) -> tuple[str, ...]:
        return (
            "system:serviceaccounts",
            f"system:serviceaccounts:{self.namespace}",
            "system:authenticated",
        )


@dataclass
class _Grant:
    account: ServiceAccount
    expires: float | None  # monotonic time; None: until rotated


@dataclass
class TokenAuthenticator:
    """Issued tokens and whom they authenticate; `clock` is monotonic seconds."""

    clock: Callable[[], float] = time.monotonic
    _grants: dict[str, _Grant] = field(default_factory=dict)

    def issue(self, account: ServiceAccount) -> str:
        token = secrets.token_urlsafe(32)
        self._grants[token] = _Grant(account, None)
        return token

    def expire(self, token: str, after: float) -> None:
        """The token stops authenticating `after` seconds from now."""
        self._grants[token].expires = self.clock() + after

    def authenticate(self, authorization: str | None) -> ServiceAccount | None:
        """The account of a valid bearer token in an `Authorization` header value, else None."""
        parts = (authorization or "").strip().split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            return None
        grant = self._grants.get(parts[1])
        if grant is None or (grant.expires is not None and self.clock() >= grant.expires):
            return None
        return grant.account


class ServiceAccountFiles:
    """A service account's projected volume on disk: `token`, `ca.crt` and `namespace`."""

    def __init__(
        self, root: Path, account: ServiceAccount, authn: TokenAuthenticator, ca_pem: bytes
    ) -> None:
        self.root = root
        self.account = account
        self._authn = authn
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        self._write("ca.crt", ca_pem)
        self._write("namespace", account.namespace.encode())
        self.token = authn.issue(account)
        self._write("token", self.token.encode())

    def rotate(self, grace: float) -> str:
        """Write a fresh token; the previous one authenticates for `grace` more seconds."""
        old, self.token = self.token, self._authn.issue(self.account)
        self._write("token", self.token.encode())
        self._authn.expire(old, grace)
        return self.token

    def _write(self, name: str, content: bytes) -> None:
        # Atomically, as the kubelet's atomic writer does: a reader sees the old or the new file.
        tmp = self.root / f".{name}.tmp"
        tmp.write_bytes(content)
        tmp.chmod(0o644)  # the container runs as a non-root user
        os.replace(tmp, self.root / name)
