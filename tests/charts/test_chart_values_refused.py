"""`helm template` refuses values that would crash the pods, each with a message naming it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from chart_helpers import one, template_args
from pydantic.alias_generators import to_camel

from conftest import Render
from modelrollout_inference.settings import GatewaySettings
from modelrollout_operator.settings import OperatorSettings

SCHEMA = Path(__file__).resolve().parents[2] / "charts/model-rollout/values.schema.json"
Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("operator.settings.logLevel=verbose", "logLevel"),
        ("gateway.settings.logLevel=loud", "logLevel"),
        ("gateway.grpcPort=8000", "grpcPort"),
        ("operator.settings.prometheusUrll=http://x", "prometheusUrll"),
        ("gateway.settings.feedbackStoreTimeout=3", "feedbackStoreTimeout"),
    ],
)
def test_a_bad_value_fails_the_template_naming_it(helm: Helm, value: str, named: str) -> None:
    proc = helm(*template_args((value,), (), "mr-system"))
    assert proc.returncode != 0, f"{value} was accepted"
    assert named in proc.stderr, proc.stderr


def test_log_levels_in_either_case_work_for_both_components(render: Render) -> None:
    docs = render(("operator.settings.logLevel=debug", "gateway.settings.logLevel=INFO"))
    seen = {}
    for component, prefix in (("operator", "MODELROLLOUT_"), ("gateway", "MODELROLLOUT_GATEWAY_")):
        pod = one(docs, "Deployment", component)["spec"]["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == component]
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        seen[component] = env[f"{prefix}LOG_LEVEL"]
    assert seen == {"operator": "debug", "gateway": "INFO"}
    # What each component makes of the rendered value: one casing rule for both.
    assert OperatorSettings.model_validate({"log_level": seen["operator"]}).log_level == "DEBUG"
    assert GatewaySettings.model_validate({"log_level": seen["gateway"]}).log_level == "info"


def test_the_schema_lists_exactly_the_settings_each_component_reads() -> None:
    schema = json.loads(SCHEMA.read_text())["definitions"]
    for name, model in (
        ("operatorSettings", OperatorSettings),
        ("gatewaySettings", GatewaySettings),
    ):
        listed = set(schema[name]["properties"])
        assert listed == {to_camel(k) for k in model.model_fields}, name
        assert schema[name]["additionalProperties"] is False
