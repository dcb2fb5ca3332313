"""`modelrollout validate`: a clean answer and exit code on any input, work linear in its size."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelrollout_operator import crdgen
from modelrollout_operator.api import celrules
from modelrollout_operator.cli import main

ROOT = Path(__file__).resolve().parents[3]
CANARY = yaml.safe_load((ROOT / "examples" / "experiment-canary.yaml").read_text())
TRAINED = yaml.safe_load((ROOT / "examples" / "modelversion-trained.yaml").read_text())

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # files hold UTF-8
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A real resource with one or two values anywhere replaced by anything."""
    doc = copy.deepcopy(draw(st.sampled_from([CANARY, TRAINED])))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            return draw(json_like)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(json_like)
    return doc


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    target = tmp_path / "input.yaml"
    target.write_text(text, encoding="utf-8")
    code = main(["validate", str(target)])
    out = capsys.readouterr()
    return code, out.out + out.err


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=mutated() | json_like, as_json=st.booleans())
def test_validate_answers_any_document_with_problems_or_ok_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, as_json: bool
) -> None:
    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    code, output = _run(tmp_path, text, capsys)
    assert code in (0, 1)
    assert "Traceback" not in output
    assert "cannot be checked" not in output, output  # the catch-all is for bugs: none here


@pytest.mark.parametrize(
    "text",
    [": : :", "- [", "\t\x00", "a: [b", "!!python/object:os.system 'x'", "{"],
)
def test_validate_reports_broken_yaml_as_one_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    code, output = _run(tmp_path, text, capsys)
    assert code == 1 and "Traceback" not in output


def test_a_seed_beyond_64_bits_is_a_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(TRAINED)
    doc["spec"]["training"]["hyperparameters"]["seed"] = 2**70
    code, output = _run(tmp_path, yaml.safe_dump(doc), capsys)
    assert code == 1 and "seed" in output and "Traceback" not in output


def test_no_rule_runs_in_or_above_a_list_beyond_its_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quadratic part was CEL's 'weights rise strictly' over every step pair: no rule runs
    on a list the size limit already rejects, so the work does not grow with its length."""
    calls: list[str] = []
    real = celrules._check

    def counting(rule: str, *args: Any) -> Any:
        calls.append(rule)
        return real(rule, *args)

    monkeypatch.setattr(celrules, "_check", counting)
    counts = []
    for steps in (100, 800, 5000):
        doc = copy.deepcopy(CANARY)
        steps_ = [{"weight": min(i, 100)} for i in range(1, steps + 1)]
        doc["spec"]["strategy"]["canary"] = {"steps": steps_}
        calls.clear()
        celrules.evaluate(doc, crdgen.openapi_schema("Experiment"))
        counts.append(len(calls))
        assert not any("isSorted" in rule for rule in calls)
    assert counts[0] == counts[1] == counts[2], counts
