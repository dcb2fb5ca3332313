"""What the demo tells: ticks built from the engine's status, progress lines, the summary
table and JSON, and the timeline PNG."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import (
    AnalysisRun,
    ExperimentPhase,
    ExperimentStatus,
    MetricCheck,
    MetricKind,
    Verdict,
)
from modelrollout_operator.local.plotting import draw_timeline
from modelrollout_operator.local.printing import progress_line, summary_table, worth_printing
from modelrollout_operator.local.recipes import SynthRecipe
from modelrollout_operator.local.summary import DemoSummary, ScenarioResult
from modelrollout_operator.local.timeline import Tick, VersionFigures, tick_from
from modelrollout_operator.rollout import Measurement, MetricObservation

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHECKS = [
    MetricCheck(name="accuracy", kind=MetricKind.ACCURACY, max_degradation=0.02),
    MetricCheck(name="slow", kind=MetricKind.LATENCY, quantile=0.5, max=1.0),
    MetricCheck(name="p99", kind=MetricKind.LATENCY, quantile=0.99, max=1.0),
]


def _status(phase: ExperimentPhase, weight: int, verdict: Verdict) -> ExperimentStatus:
    return ExperimentStatus(
        phase=phase,
        current_step=1,
        total_steps=4,
        weight=weight,
        failed_checks=2 if verdict == Verdict.FAIL else 0,
        message="rolled back: accuracy worse",
        analysis=[AnalysisRun(time=NOW, step=1, weight=10, verdict=verdict)],
    )


def test_a_tick_takes_accuracy_and_the_p99_latency_of_both_versions() -> None:
    observations = [
        MetricObservation(
            "accuracy",
            candidate=Measurement(0.6, samples=200, successes=120),
            baseline=Measurement(0.8, samples=2000, successes=1600),
        ),
        MetricObservation("slow", candidate=Measurement(0.5), baseline=Measurement(0.5)),
        MetricObservation("p99", candidate=Measurement(0.004), baseline=Measurement(0.002)),
    ]
    tick = tick_from(
        at=12.5,
        experiment="scorer-v3-canary",
        checks=CHECKS,
        status=_status(ExperimentPhase.ROLLED_BACK, 0, Verdict.FAIL),
        observations=observations,
        baseline="1",
        candidate="3",
        analysed=True,
    )
    assert tick.figures["3"] == VersionFigures(accuracy=0.6, samples=200, p99=0.004)
    assert tick.figures["1"] == VersionFigures(accuracy=0.8, samples=2000, p99=0.002)
    assert tick.verdict == "fail" and tick.event == "rollback"
    assert tick.weights() == {"1": 100, "3": 0}
    line = progress_line(tick)
    for part in ("scorer-v3-canary", "step 1/4", "weight   0%", "v1 0.800 (n=2000)",
                 "v3 0.600 (n=200)", "p99 v1 2.0ms v3 4.0ms", "verdict fail (failed 2)",
                 "| RolledBack"):  # fmt: skip
        assert part in line, (part, line)


def test_a_pass_without_analysis_has_no_verdict_and_a_promotion_moves_all_traffic() -> None:
    tick = tick_from(
        at=1.0,
        experiment="e",
        checks=CHECKS,
        status=_status(ExperimentPhase.SUCCEEDED, 100, Verdict.PASS),
        observations=[],
        baseline="1",
        candidate="2",
        analysed=False,
    )
    assert tick.verdict is None and tick.event == "promotion"
    assert tick.weights() == {"1": 0, "2": 100}
    assert "accuracy v1   -   (n=0)" in progress_line(tick)


def _result(name: str, expected: str, actual: str) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        experiment=f"exp-{name}",
        baseline="1",
        candidate="2",
        expected=expected,
        actual=actual,
        steps_walked=[10, 25],
        total_steps=4,
        final_weights={"1": 100, "2": 0},
        accuracy={"1": 0.8, "2": None},
        samples={"1": 10, "2": 0},
        seconds=3.25,
    )


def test_summary_json_and_table_say_which_scenario_failed(tmp_path: Path) -> None:
    summary = DemoSummary(
        metrics_source="gateway-counters",
        fast=True,
        workdir="/w",
        timeline="/w/t.png",
        scenarios=[_result("a", "RolledBack", "RolledBack"), _result("b", "Succeeded", "Failed")],
        timings={"totalSeconds": 61.234},
    )
    path = tmp_path / "out" / "summary.json"
    summary.write(path)
    data = json.loads(path.read_text())
    assert data["ok"] is False
    assert [s["ok"] for s in data["scenarios"]] == [True, False]
    assert data["scenarios"][0]["finalWeights"] == {"1": 100, "2": 0}
    assert data["scenarios"][0]["stepsWalked"] == [10, 25]
    assert data["timings"] == {"totalSeconds": 61.23}
    table = summary_table(summary.scenarios)
    assert "10% > 25%" in table and "v1=100% v2=0%" in table
    assert table.splitlines()[-1].rstrip().endswith("NO")
    assert DemoSummary("x", False, "/w", None, [], {}).ok is False  # nothing run is not a pass


def test_the_timeline_is_a_png(tmp_path: Path) -> None:
    ticks = [
        Tick(at=float(i), experiment="e1", phase="Progressing", step=1, total_steps=4,
             weight=10, baseline="1", candidate="3",
             figures={"1": VersionFigures(0.8, 100), "3": VersionFigures(0.6, 10)})
        for i in range(5)
    ]  # fmt: skip
    ticks.append(Tick(at=5.0, experiment="e1", phase="RolledBack", step=1, total_steps=4,
                      weight=0, baseline="1", candidate="3", event="rollback"))  # fmt: skip
    path = draw_timeline(ticks, tmp_path / "t.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no engine passes"):
        draw_timeline([], tmp_path / "empty.png", "test")


@given(st.integers(1, 100_000), st.floats(0.01, 1.0))
def test_fast_data_is_smaller_but_never_below_the_floor(rows: int, scale: float) -> None:
    argv = SynthRecipe(rows=rows, seed=1).argv(Path("/d.csv"), scale, minimum_rows=3000)
    drawn = int(argv[argv.index("--rows") + 1])
    assert min(rows, 3000) <= drawn <= rows


def test_only_analyses_and_moves_are_printed() -> None:
    def tick(weight: int, verdict: str | None = None, phase: str = "Progressing") -> Tick:
        return Tick(at=0.0, experiment="e", phase=phase, step=1, total_steps=4, weight=weight,
                    baseline="1", candidate="2", verdict=verdict)  # fmt: skip

    assert worth_printing(None, tick(10))  # the first pass
    assert not worth_printing(tick(10), tick(10))  # waited, nothing new
    assert worth_printing(tick(10), tick(10, verdict="pass"))  # an analysis ran
    assert worth_printing(tick(10), tick(25))  # the weight moved
    assert worth_printing(tick(10), tick(10, phase="Paused"))
