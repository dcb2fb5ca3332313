"""Fixtures of the in-pod harness (tests/support/inpod): the chart rendered with test values,
kmock's emulator behind the API front, and the chart's Deployments launched as pods.

Pod tests need root (mount namespaces, bind mounts, changing user) and util-linux's unshare,
mount and setpriv; they are skipped, saying so, elsewhere. CI runs as root.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.inpod.chart import CHART, RenderedChart, RenderError, find_helm, render
from tests.support.inpod.harness import RESTRICTED, Harness
from tests.support.inpod.pods import can_launch
from tests.support.kubernetes import register_resources

RELEASE_NAMESPACE = "mr-system"
USER_NAMESPACE = "ml"  # where ModelVersions and Experiments live: Pod Security "restricted"


def chart_values(scope: str = "cluster") -> list[str]:
    """Test values: the user's choices a platform engineer would make, never the spec itself."""
    values = ["gateway.replicas=1"]
    if "feedback" in yaml.safe_load((CHART / "values.yaml").read_text()):
        values.append("feedback.store=memory")  # one gateway replica needs no shared store
    if scope == "namespace":
        values += ["rbac.scope=namespace", f"rbac.watchNamespaces={{{USER_NAMESPACE}}}"]
    return values


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], RenderedChart]:
    """`helm template` of charts/model-rollout per scope (cached for the session)."""
    if find_helm() is None:
        pytest.skip("helm not found: run tools/fetch_k8s_tools.sh (scripts/setup.sh does)")
    cache: dict[str, RenderedChart] = {}

    def get(scope: str = "cluster") -> RenderedChart:
        if scope not in cache:
            try:
                cache[scope] = render(chart_values(scope), namespace=RELEASE_NAMESPACE)
            except RenderError as exc:
                pytest.fail(f"helm template failed: {exc}")
        return cache[scope]

    return get


@pytest.fixture()
def pods_allowed() -> None:
    reason = can_launch()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture()
async def make_harness(
    kmock: Any, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Start a harness around a rendered chart (one per test); torn down after the test."""
    started: list[Harness] = []

    async def make(chart: RenderedChart, front_host: str = "127.0.0.1") -> Harness:
        assert not started, "one harness per test (one emulator)"
        register_resources(kmock)
        harness = Harness(
            emulator=kmock,
            chart=chart,
            workdir=tmp_path,
            namespaces={RELEASE_NAMESPACE: {}, USER_NAMESPACE: dict(RESTRICTED)},
            front_host=front_host,
        )
        await harness.start()
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.stop()


async def eventually(
    check: Callable[[], Any], timeout: float, what: str, describe: Callable[[], str] = str
) -> Any:
    """Poll `check` (sync or async) until truthy; fail naming `what` and what to look at."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{describe()}")
