"""The operator's credentials as a pod has them: service-account files, TLS, rotating tokens.

The in-cluster loader reads fixed paths; the tests point its module constants at temp files
(no root needed here; the in-pod harness in tests/inpod mounts them at the real path).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.config.incluster_config as incluster
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelrollout_operator.k8s import credentials
from modelrollout_operator.k8s.client import CONFIGMAPS, Connection, KubeClient
from modelrollout_operator.settings import OperatorSettings


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.crt) and a server certificate for 127.0.0.1 and ::1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (
        directory / "ca.crt",
        directory / "tls.crt",
        directory / "tls.key",
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@dataclass
class ApiServer:
    """A TLS endpoint that, like kube-apiserver, accepts only the current token."""

    token: str
    port: int = 0
    seen: list[str] = field(default_factory=list)


@dataclass
class ServiceAccount:
    directory: Path
    token_file: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    def rotate(self, token: str) -> None:
        self.token_file.write_text(token)


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceAccount]:
    ca_file, cert_file, key_file = _certificates(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    (tmp_path / "namespace").write_text("team-a\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(token_file))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(ca_file))
    monkeypatch.setattr(credentials, "NAMESPACE_FILE", tmp_path / "namespace")
    monkeypatch.delenv("MODELROLLOUT_KUBE_SERVER", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    yield ServiceAccount(tmp_path, token_file, ca_file, cert_file, key_file)


async def _serve(
    account: ServiceAccount, api: ApiServer, host: str
) -> AsyncIterator[web.AppRunner]:
    async def configmap(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        api.seen.append(given)
        if given != f"Bearer {api.token}":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        name = request.match_info["name"]
        return web.json_response({"metadata": {"name": name, "namespace": "team-a"}})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/configmaps/{name}", configmap)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(account.cert_file, account.key_file)
    site = web.TCPSite(runner, host, 0, ssl_context=context)
    await site.start()
    api.port = runner.addresses[0][1]
    try:
        yield runner
    finally:
        await runner.cleanup()


@pytest.fixture
async def api_server(
    service_account: ServiceAccount, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiServer]:
    api = ApiServer(token="first-token")
    async for _ in _serve(service_account, api, "127.0.0.1"):
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        yield api


def test_in_cluster_lower_case_bearer_is_sent_as_one_bearer_token(
    service_account: ServiceAccount,
) -> None:
    info = credentials.login(OperatorSettings())
    assert info.server == "https://127.0.0.1:443"
    assert (info.scheme, info.token) == ("Bearer", "first-token")
    assert info.ca_path == str(service_account.ca_file)
    assert info.default_namespace == "team-a"
    assert Connection.from_info(info).authorization == "Bearer first-token"


def test_lower_case_scheme_from_any_loader_is_normalised() -> None:
    import kopf

    raw = kopf.ConnectionInfo(server="https://h", scheme="bearer", token="abc")
    assert credentials.authorization(credentials.normalised(raw)) == "Bearer abc"
    assert Connection.from_info(raw).authorization == "Bearer abc"
    bare = kopf.ConnectionInfo(server="https://h", token="abc")
    assert Connection.from_info(bare).authorization == "Bearer abc"


def test_ipv6_service_host_is_bracketed(
    service_account: ServiceAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1")
    assert credentials.login(OperatorSettings()).server == "https://[fd00:10:96::1]:443"


def test_explicit_server_setting_needs_no_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELROLLOUT_KUBE_SERVER", "http://127.0.0.1:9/")
    info = credentials.login(OperatorSettings())
    assert (info.server, info.insecure, info.token) == ("http://127.0.0.1:9", True, None)


async def test_client_reaches_the_api_with_the_pod_token_over_tls(api_server: ApiServer) -> None:
    kube = KubeClient(Connection.discover(OperatorSettings()))
    try:
        found = await kube.get(CONFIGMAPS, "team-a", "routing")
    finally:
        await kube.close()
    assert found is not None and found["metadata"]["name"] == "routing"
    assert api_server.seen == ["Bearer first-token"]


async def test_rotated_token_is_read_again_after_a_401(
    service_account: ServiceAccount, api_server: ApiServer
) -> None:
    kube = KubeClient(Connection.discover(OperatorSettings()))
    try:
        assert await kube.get(CONFIGMAPS, "team-a", "a") is not None
        # The kubelet rotates the projected token; the API stops taking the old one.
        service_account.rotate("second-token")
        api_server.token = "second-token"
        assert await kube.get(CONFIGMAPS, "team-a", "b") is not None
        assert await kube.get(CONFIGMAPS, "team-a", "c") is not None
    finally:
        await kube.close()
    assert api_server.seen == [
        "Bearer first-token",
        "Bearer first-token",  # refused: 401
        "Bearer second-token",  # re-read, retried
        "Bearer second-token",
    ]


async def test_a_token_the_api_keeps_refusing_is_an_error_not_a_loop(
    api_server: ApiServer,
) -> None:
    from modelrollout_operator.k8s.client import KubeError

    api_server.token = "nobody-has-this"
    kube = KubeClient(Connection.discover(OperatorSettings()))
    try:
        with pytest.raises(KubeError) as refused:
            await kube.get(CONFIGMAPS, "team-a", "a")
    finally:
        await kube.close()
    assert refused.value.status == 401
    assert len(api_server.seen) == 2  # one retry after logging in again


async def test_client_reaches_an_ipv6_api_server(
    service_account: ServiceAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ApiServer(token="first-token")
    async for _ in _serve(service_account, api, "::1"):
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "::1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        kube = KubeClient(Connection.discover(OperatorSettings()))
        try:
            assert await kube.get(CONFIGMAPS, "team-a", "v6") is not None
        finally:
            await kube.close()
    assert api.seen == ["Bearer first-token"]
