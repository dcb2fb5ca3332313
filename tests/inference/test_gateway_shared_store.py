"""The shared prediction store: a real redis-server, real gateway processes behind a
round-robin front (as a Service spreads connections over pods), faults made for real
(SIGKILL of a replica, redis-server stopped and started again)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import orjson
import pytest
from gateway_helpers import FEATURES, MODEL, LabelledData, free_socket, metric_value

from modelrollout_inference.feedback.stores import Key, Prediction, RedisStore, StoreUnavailable
from modelrollout_inference.routing.table import BinaryCorrectness
from tests.support.processes import die_with_parent
from tests.support.redis import RedisServer, needs_redis, running_redis
from tests.support.roundrobin import round_robin

pytestmark = needs_redis

TOKEN = "feedback-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BINARY = BinaryCorrectness()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


# -- the store on its own ----------------------------------------------------------------------


def _prediction(t: float, version: str = "1") -> Prediction:
    return Prediction(MODEL, version, "stable", np.array([[0.9]], dtype=np.float32), BINARY, t)


async def test_a_label_posted_many_times_at_once_joins_once(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, ttl_seconds=60)
    try:
        await store.put(Key(MODEL, "r1"), _prediction(time.time()))
        results = await asyncio.gather(*(store.take([Key(MODEL, "r1")]) for _ in range(20)))
        reasons = Counter(taken.reason for [taken] in results)
        assert reasons == {"joined": 1, "unknown": 19}
    finally:
        await store.close()


async def test_late_labels_count_as_expired_and_a_put_back_keeps_its_expiry(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, ttl_seconds=0.4, expired_grace_seconds=5)
    try:
        now = time.time()
        await store.put(Key(MODEL, "late"), _prediction(now))
        await store.put(Key(MODEL, "kept"), _prediction(now))
        [taken] = await store.take([Key(MODEL, "kept")])
        assert taken.prediction is not None
        await store.put_back(Key(MODEL, "kept"), taken.prediction)  # a bad label
        await asyncio.sleep(0.5)
        reasons = [t.reason for t in await store.take([Key(MODEL, "late"), Key(MODEL, "kept")])]
        assert reasons == ["expired", "expired"]
    finally:
        await store.close()


async def test_the_store_needs_its_password_and_never_shows_it() -> None:
    with running_redis(password="s3cret-pass") as server:
        good = RedisStore(server.url, ttl_seconds=60, password="s3cret-pass")
        bad = RedisStore(f"redis://:wrong-pass@127.0.0.1:{server.port}/0", ttl_seconds=60)
        try:
            await good.put(Key(MODEL, "a"), _prediction(time.time()))
            assert [t.reason for t in await good.take([Key(MODEL, "a")])] == ["joined"]
            with pytest.raises(StoreUnavailable) as caught:
                await bad.put(Key(MODEL, "b"), _prediction(time.time()))
            assert "wrong-pass" not in str(caught.value)
            assert f"127.0.0.1:{server.port}" in str(caught.value)
        finally:
            await good.close()
            await bad.close()


# -- gateway processes behind a round-robin front ----------------------------------------------


def _table() -> dict[str, object]:
    return {
        "model": MODEL,
        "versions": [
            {"version": "1", "weight": 50, "role": "baseline"},
            {"version": "2", "weight": 50, "role": "candidate"},
        ],
        "generation": 1,
    }


class Replica:
    def __init__(self, repository: Path, routing: Path, redis_url: str) -> None:
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        env = {
            **os.environ,
            "MODELROLLOUT_GATEWAY_FEEDBACK_STORE": "redis",
            "MODELROLLOUT_GATEWAY_FEEDBACK_REDIS_URL": redis_url,
            "MODELROLLOUT_GATEWAY_FEEDBACK_TOKEN": TOKEN,
        }
        argv = [
            sys.executable, "-m", "modelrollout_inference.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--model-repository", str(repository), "--routing-file", str(routing),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            argv, env=env, start_new_session=True, preexec_fn=die_with_parent
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_serving(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                text = httpx.get(f"{self.url}/metrics", timeout=2).text
                if "modelrollout_traffic_weight{" in text:  # the routing table is applied
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway on {self.port} did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def replicas(
    count: int, repository: Path, tmp_path: Path, redis_url: str
) -> Iterator[list[Replica]]:
    routing = tmp_path / "routing.json"
    routing.write_bytes(orjson.dumps(_table()))
    started = [Replica(repository, routing, redis_url) for _ in range(count)]
    try:
        for replica in started:
            replica.wait_serving()
        yield started
    finally:
        for replica in started:
            replica.stop()


def _body(row: np.ndarray, request_id: str) -> dict[str, object]:
    return {
        "id": request_id,
        "inputs": [
            {"name": "features", "datatype": "FP32", "shape": [1, FEATURES], "data": row.tolist()}
        ],
    }


async def _predict(
    url: str, data: LabelledData, ids: list[str], concurrency: int = 48
) -> dict[str, tuple[str, float, int]]:
    """id -> (version, score, label), every request through `url` (aiohttp: a light client)."""
    answers: dict[str, tuple[str, float, int]] = {}
    queue = list(enumerate(ids))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as client:

        async def worker() -> None:
            while queue:
                index, request_id = queue.pop()
                row = index % len(data.labels)
                body = _body(data.features[row], request_id)
                async with client.post(f"/v2/models/{MODEL}/infer", json=body) as response:
                    text = await response.read()
                    assert response.status == 200, text
                    answers[request_id] = (
                        response.headers["x-model-version"],
                        orjson.loads(text)["outputs"][0]["data"][0],
                        int(data.labels[row]),
                    )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


@dataclass
class Answered:
    status: int
    document: dict[str, Any]


async def _label(
    url: str, labels: list[tuple[str, int]], batch: int = 50, concurrency: int = 16
) -> list[Answered]:
    batches = [labels[i : i + batch] for i in range(0, len(labels), batch)]
    responses: list[Answered] = []
    # Fresh connections, opened after the predictions': the front spreads them anew.
    async with aiohttp.ClientSession(url, headers=AUTH) as client:

        async def worker() -> None:
            while batches:
                items = batches.pop()
                body = {"feedback": [{"id": i, "label": y} for i, y in items]}
                async with client.post(f"/v2/models/{MODEL}/feedback", json=body) as response:
                    responses.append(Answered(response.status, orjson.loads(await response.read())))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return responses


def _summed(urls: list[str], name: str, **labels: str) -> float:
    return sum(metric_value(url, name, **labels) for url in urls)


def _expected(answers: dict[str, tuple[str, float, int]]) -> tuple[Counter[str], Counter[str]]:
    total: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for version, score, label in answers.values():
        total[version] += 1
        correct[version] += (score >= 0.5) == bool(label)
    return total, correct


@pytest.mark.slow
async def test_ten_thousand_labels_posted_to_any_replica_all_join_once_per_version(
    model_repository: Path, labelled: LabelledData, tmp_path: Path, redis_server: RedisServer
) -> None:
    with (
        replicas(3, model_repository, tmp_path, redis_server.url) as three,
        round_robin([r.port for r in three]) as front,
    ):
        ids = [f"req-{i}" for i in range(10_000)]
        answers = await _predict(front.url, labelled, ids)
        labels = [(i, answers[i][2]) for i in ids]
        random.Random(3).shuffle(labels)
        responses = await _label(front.url, labels)
        assert all(r.status == 200 for r in responses), {r.status for r in responses}
        assert sum(r.document["joined"] for r in responses) == 10_000
        # Posted again: already joined, counted as unknown, never twice.
        again = await _label(front.url, labels[:500])
        assert sum(r.document["joined"] for r in again) == 0

        urls = [r.url for r in three]
        total, correct = _expected(answers)
        assert set(total) == {"1", "2"}
        for version in ("1", "2"):
            assert _summed(urls, "modelrollout_feedback_total", version=version) == total[version]
            assert (
                _summed(urls, "modelrollout_feedback_correct_total", version=version)
                == correct[version]
            )
        assert _summed(urls, "modelrollout_feedback_dropped_total", reason="unknown") == 500
        # Every replica answered predictions and joined labels: the join is not local.
        for url in urls:
            assert metric_value(url, "modelrollout_requests_total", code="200") > 0
            assert metric_value(url, "modelrollout_feedback_total") > 0
        assert _summed(urls, "modelrollout_feedback_requests_total", code="200") == len(
            responses
        ) + len(again)


async def test_a_replica_killed_between_prediction_and_label_loses_nothing(
    model_repository: Path, labelled: LabelledData, tmp_path: Path, redis_server: RedisServer
) -> None:
    with (
        replicas(3, model_repository, tmp_path, redis_server.url) as three,
        round_robin([r.port for r in three]) as front,
    ):
        ids = [f"kill-{i}" for i in range(600)]
        answers = await _predict(front.url, labelled, ids, concurrency=12)
        killed = three[0]
        answered_by_killed = metric_value(killed.url, "modelrollout_requests_total", code="200")
        assert answered_by_killed > 0  # it held some of the predictions
        killed.kill()
        responses = await _label(front.url, [(i, answers[i][2]) for i in ids])
        assert sum(r.document["joined"] for r in responses) == len(ids)
        live = [r.url for r in three[1:]]
        total, _ = _expected(answers)
        for version in ("1", "2"):
            assert _summed(live, "modelrollout_feedback_total", version=version) == total[version]


async def test_redis_down_inference_answers_feedback_503_counted_then_joining_resumes(
    model_repository: Path, labelled: LabelledData, tmp_path: Path, redis_server: RedisServer
) -> None:
    with (
        replicas(2, model_repository, tmp_path, redis_server.url) as two,
        round_robin([r.port for r in two]) as front,
    ):
        urls = [r.url for r in two]
        before = await _predict(front.url, labelled, [f"before-{i}" for i in range(40)], 8)
        redis_server.stop()

        during = await _predict(front.url, labelled, [f"during-{i}" for i in range(40)], 8)
        assert len(during) == 40  # inference keeps answering
        responses = await _label(front.url, [(i, y) for i, (_, _, y) in before.items()], 10, 4)
        assert {r.status for r in responses} == {503}
        message = responses[0].document["error"]
        assert "prediction store" in message and "unavailable" in message and "retry" in message
        assert _summed(urls, "modelrollout_feedback_requests_total", code="503") == len(responses)
        assert _summed(urls, "modelrollout_feedback_store_errors_total", operation="take") >= 1
        assert _summed(urls, "modelrollout_feedback_store_errors_total", operation="put") >= 1

        redis_server.start()  # empty: it saved nothing
        await asyncio.sleep(0.6)  # the breaker's retry interval
        after = await _predict(front.url, labelled, [f"after-{i}" for i in range(40)], 8)
        responses = await _label(front.url, [(i, y) for i, (_, _, y) in after.items()], 10, 4)
        assert {r.status for r in responses} == {200}
        assert sum(r.document["joined"] for r in responses) == 40
        assert _summed(urls, "modelrollout_feedback_total") == 40


async def test_feedback_without_the_token_is_refused_and_counted(
    model_repository: Path, labelled: LabelledData, tmp_path: Path, redis_server: RedisServer
) -> None:
    with replicas(1, model_repository, tmp_path, redis_server.url) as [one]:
        answers = await _predict(one.url, labelled, ["a1"], 1)
        item = {"id": "a1", "label": answers["a1"][2]}
        for headers in ({}, {"authorization": "Bearer wrong"}):
            response = httpx.post(
                f"{one.url}/v2/models/{MODEL}/feedback", json=item, headers=headers
            )
            assert response.status_code == 401
            assert "Authorization: Bearer" in response.json()["error"]
        assert metric_value(one.url, "modelrollout_feedback_requests_total", code="401") == 2
        assert metric_value(one.url, "modelrollout_feedback_total") == 0
        response = httpx.post(f"{one.url}/v2/models/{MODEL}/feedback", json=item, headers=AUTH)
        assert response.json()["joined"] == 1
