"""A real Prometheus scrapes the gateway while labelled traffic flows; version 2 is worse."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import numpy as np
import pytest
from gateway_helpers import (
    MODEL,
    LabelledData,
    RunningGateway,
    accuracy_of,
    put_table,
    two_version_table,
)

from tests.support.prometheus import PrometheusServer

ACCURACY = (
    'sum(increase(modelrollout_feedback_correct_total{{model="{m}",version="{v}"}}[1m]))'
    ' / sum(increase(modelrollout_feedback_total{{model="{m}",version="{v}"}}[1m]))'
)


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="the prometheus binary is not installed (apt-get install prometheus)",
)
def test_accuracy_promql_per_version(
    running: RunningGateway,
    labelled: LabelledData,
    prometheus_factory: Callable[[list[str]], AbstractContextManager[PrometheusServer]],
) -> None:
    assert put_table(running, two_version_table(50)).status_code == 200
    n = 1200
    with (
        prometheus_factory([running.address]) as prometheus,
        httpx.Client(base_url=running.url) as client,
    ):
        # Prometheus starts scraping ~5 s after it is ready (target discovery is throttled); a
        # first scrape with the feedback series at 0 lets increase() see every label.
        deadline = time.monotonic() + 60
        while not prometheus.series('up{job="gateway"} == 1'):
            assert time.monotonic() < deadline, "prometheus never scraped the gateway"
            time.sleep(0.2)
        started = time.monotonic()
        verdicts: dict[str, list[bool]] = {"1": [], "2": []}
        # Batches of 20 rows per request keep the test fast; each row has its own label.
        for start in range(0, n, 20):
            rows = labelled.features[start : start + 20]
            body = {
                "id": f"p-{start}",
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": list(rows.shape),
                        "data": rows.ravel().tolist(),
                    }
                ],
            }
            response = client.post(
                f"/v2/models/{MODEL}/infer", json=body, headers={"x-user-id": f"user-{start}"}
            )
            scores = np.array(response.json()["outputs"][0]["data"])
            labels = labelled.labels[start : start + 20]
            verdicts[response.headers["x-model-version"]] += list((scores >= 0.5) == labels)
            feedback = {"id": f"p-{start}", "label": [int(x) for x in labels]}
            assert client.post(f"/v2/models/{MODEL}/feedback", json=feedback).status_code == 200
        assert min(len(v) for v in verdicts.values()) > 200
        expected = {version: float(np.mean(v)) for version, v in verdicts.items()}
        # Scrapes every second; increase() needs samples after the traffic.
        time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        deadline = time.monotonic() + 60
        measured: dict[str, float] = {}
        while time.monotonic() < deadline:
            measured = {}
            for version in ("1", "2"):
                result = prometheus.series(ACCURACY.format(m=MODEL, v=version))
                if result and not math.isnan(value := float(result[0]["value"][1])):  # type: ignore[index]
                    measured[version] = value
            if len(measured) == 2 and all(abs(measured[v] - expected[v]) < 0.01 for v in measured):
                break
            time.sleep(0.5)
        assert set(measured) == {"1", "2"}, measured
        for version in ("1", "2"):
            assert abs(measured[version] - expected[version]) < 0.01, (measured, expected)
        # Version 2 is the worse model, and both sit near their accuracy on the whole set.
        assert measured["1"] - measured["2"] > 0.1
        for version in ("1", "2"):
            assert abs(measured[version] - accuracy_of(int(version), labelled)) < 0.06
