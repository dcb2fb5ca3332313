"""Real-cluster tests: they run only when KUBECONFIG names a cluster (skipped otherwise).

    KUBECONFIG=~/.kube/config .venv/bin/python -m pytest tests/operator/cluster -m cluster

They apply crds/ (server-side apply), create a namespace of their own, run the operator
locally (`modelrollout operator --standalone -n <namespace>`) against the cluster, and delete
the namespace at the end. The CRDs are left installed (other namespaces may use them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CRDS = sorted((ROOT / "crds").glob("*.yaml"))
GROUP, VERSION = "modelrollout.dev", "v1alpha1"
FIELD_MANAGER = "modelrollout-tests"

CLUSTER_MARKS = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a real cluster: set KUBECONFIG (e.g. a kind cluster from kind-config.yaml)",
    ),
]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def api() -> Any:
    from kubernetes import client, config

    config.load_kube_config()
    return client.ApiClient()


def server_side_apply(api: Any, path: str, body: dict[str, Any]) -> Any:
    """`kubectl apply --server-side --force-conflicts` of one object (YAML is a JSON superset)."""
    return api.call_api(
        path,
        "PATCH",
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={"Content-Type": "application/apply-patch+yaml",
                       "Accept": "application/json"},
        body=body,  # the client sends apply-patch+yaml bodies as JSON
        response_types_map={200: "object", 201: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def crds(api: Any) -> list[str]:
    import yaml
    from kubernetes import client

    names = []
    ext = client.ApiextensionsV1Api(api)
    for path in CRDS:
        crd = yaml.safe_load(path.read_text())
        name = crd["metadata"]["name"]
        server_side_apply(api, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                          crd)  # fmt: skip

        def established(name: str = name) -> bool:
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        wait_for(established, 30, f"CRD {name} Established")
        names.append(name)
    return names


@pytest.fixture()
def namespace(api: Any, crds: list[str]) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"modelrollout-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"modelrollout.dev/test": "1"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Foreground")


@pytest.fixture()
def custom(api: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api)


@pytest.fixture()
def operator(namespace: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The operator as a local process serving only the test namespace."""
    log = (tmp_path / "operator.log").open("wb")
    env = {
        **os.environ,
        "MODELROLLOUT_HTTP_HOST": "127.0.0.1",
        "MODELROLLOUT_HTTP_PORT": "0",
        # No Prometheus from here: analyses find no data and hold, which these tests allow.
        "MODELROLLOUT_PROMETHEUS_URL": os.environ.get(
            "MODELROLLOUT_TEST_PROMETHEUS_URL", "http://127.0.0.1:9"
        ),
        "MODELROLLOUT_VERSION_POLL_INTERVAL": "1",
        "MODELROLLOUT_READY_POLL_INTERVAL": "2",
        "MODELROLLOUT_GATEWAY_NAMESPACE": namespace,
    }
    for ours, theirs in (("MODELROLLOUT_TEST_GATEWAY_IMAGE", "MODELROLLOUT_GATEWAY_IMAGE"),):
        if os.environ.get(ours):
            env[theirs] = os.environ[ours]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelrollout_operator.cli", "operator", "--standalone",
         "-n", namespace],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()
    if proc.returncode not in (0, -signal.SIGTERM):
        print((tmp_path / "operator.log").read_text()[-4000:])
