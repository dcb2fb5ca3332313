"""The gateway's KServe v2 route table: each declared route matches its paths and only those."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_inference.serving.app import V2_ROUTES, GatewayApp, match_v2


def _split(path: str) -> list[str]:
    return path.strip("/").split("/")


@pytest.mark.parametrize(
    ("method", "path", "handler", "model", "version"),
    [
        ("GET", "/v2", GatewayApp._server_metadata, None, None),
        ("GET", "/v2/health/live", GatewayApp._live, None, None),
        ("GET", "/v2/health/ready", GatewayApp._ready, None, None),
        ("POST", "/v2/models/m/infer", GatewayApp._infer, "m", None),
        ("POST", "/v2/models/m/versions/3/infer", GatewayApp._infer, "m", "3"),
        ("POST", "/v2/models/m/feedback", GatewayApp._model_feedback, "m", None),
        ("GET", "/v2/models/m", GatewayApp._model_metadata, "m", None),
        ("GET", "/v2/models/m/versions/3", GatewayApp._model_metadata, "m", "3"),
        ("GET", "/v2/models/m/ready", GatewayApp._model_ready, "m", None),
        ("GET", "/v2/models/m/versions/3/ready", GatewayApp._model_ready, "m", "3"),
        # a model may be called like a route's literal
        ("POST", "/v2/models/infer/infer", GatewayApp._infer, "infer", None),
        ("GET", "/v2/models/versions/versions/versions", GatewayApp._model_metadata, "versions", "versions"),
    ],
)  # fmt: skip
def test_each_route_matches_and_names_its_model_and_version(
    method: str, path: str, handler: object, model: str | None, version: str | None
) -> None:
    parts = _split(path)
    found = match_v2(method, parts)
    assert found is not None
    got, model_at, version_at = found
    assert got is handler
    assert (parts[model_at] if model_at else None) == model
    assert (parts[version_at] if version_at else None) == version


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2"),
        ("GET", "/v2/health"),
        ("GET", "/v2/health/other"),
        ("POST", "/v2/health/live"),
        ("GET", "/v2/models"),
        ("GET", "/v2/models/m/infer"),
        ("PUT", "/v2/models/m/infer"),
        ("POST", "/v2/models/m/versions/3/feedback"),  # feedback is per model, not version
        ("POST", "/v2/models/m/versions/infer"),
        ("GET", "/v2/models/m/other"),
        ("GET", "/v2/models/m/versions/3/ready/extra"),
    ],
)
def test_anything_else_has_no_route(method: str, path: str) -> None:
    assert match_v2(method, _split(path)) is None


def _reference(method: str, parts: list[str]) -> bool:
    """Whether a declared pattern matches, read straight off V2_ROUTES."""
    for want, pattern, _ in V2_ROUTES:
        segments = _split(pattern)
        if (
            want == method
            and len(segments) == len(parts)
            and all(
                s in ("{model}", "{version}") or s == p
                for s, p in zip(segments, parts, strict=True)
            )
        ):
            return True
    return False


_SEGMENTS = st.sampled_from(
    ["v2", "models", "versions", "infer", "ready", "feedback", "health", "live", "m", "3", ""]
)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    rest=st.lists(_SEGMENTS, max_size=6),
)
def test_the_compiled_table_matches_exactly_the_declared_patterns(
    method: str, rest: list[str]
) -> None:
    parts = ["v2", *rest]
    assert (match_v2(method, parts) is not None) == _reference(method, parts)
