"""The live view: `modelrollout get experiment NAME [--watch]` and `modelrollout list`, on
recorded passes of a rollback and of a promotion (with holdback), printed plain, piped, and
driven in a real terminal (tmux)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelrollout_operator.api.v1alpha1 import ExperimentSpec, ExperimentStatus, format_duration
from modelrollout_operator.cli.liveview import render_experiment, render_list
from modelrollout_operator.local.stepping import event_record, write_snapshot
from modelrollout_operator.rollout import (
    EmitEvent,
    Measurement,
    MetricObservation,
    UserIntent,
    World,
    plan_observation,
    reconcile,
)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
READY = World(
    baseline_ready=True, candidate_ready=True, baseline_version="1", candidate_version="2"
)
TMUX = shutil.which("tmux")


def _spec(**promotion: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({
        "model": "scorer", "baseline": "scorer-v1", "candidate": "scorer-v2",
        "strategy": {"type": "canary", "canary": {"steps": [{"weight": 25, "bake": "30s"},
                                                             {"weight": 100, "bake": "30s"}]}},
        "analysis": {"interval": "30s", "failureLimit": 2, "metrics": [
            {"name": "accuracy", "kind": "accuracy", "maxDegradation": 0.02, "minSamples": 50},
            {"name": "p99", "kind": "latency", "quantile": 0.99, "max": 0.25, "minSamples": 10}]},
        "promotion": promotion,
    })  # fmt: skip


def _obs(rate: float) -> list[MetricObservation]:
    n = 40_000
    return [
        MetricObservation("accuracy", Measurement(rate, n, round(rate * n)),
                          Measurement(0.9, n, round(0.9 * n))),
        MetricObservation("p99", Measurement(0.04, 900), Measurement(0.03, 2700)),
    ]  # fmt: skip


def record(name: str, spec: ExperimentSpec, rates: list[float]) -> list[tuple[datetime, dict]]:
    """The snapshots the demo's driver writes, one per pass 30 s apart (and when)."""
    status, now, events, out = ExperimentStatus(), T0, [], []
    for rate in rates:
        now += timedelta(seconds=30)
        plan = plan_observation(spec, status, READY, now)
        decision = reconcile(spec, status, READY, _obs(rate) if plan else None, UserIntent(), now)
        events += [event_record(a, now) for a in decision.actions if isinstance(a, EmitEvent)]
        status = decision.status
        out.append((now, {
            "apiVersion": "modelrollout.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": spec.to_wire(), "status": status.to_wire(), "events": events[-20:],
        }))  # fmt: skip
    return out


ROLLBACK = record("scorer-v3-canary", _spec(), [0.9, 0.9, 0.5, 0.5, 0.5])
PROMOTION = record("scorer-v2-canary", _spec(holdback={"percent": 5, "duration": "2m"}),
                   [0.9] * 12)  # fmt: skip


def test_a_rollback_shows_the_failing_numbers_their_bounds_and_the_events() -> None:
    at, doc = ROLLBACK[-1]
    text = render_experiment(doc, doc["events"], at + timedelta(seconds=5))
    assert "Phase:      RolledBack" in text
    assert "Weights:    scorer-v1 100%, scorer-v2 0%" in text
    (row,) = [line for line in text.splitlines() if line.strip().startswith("accuracy ")]
    cells = row.split()
    assert cells[1] == "FAIL" and cells[2] == "0.5" and cells[3] == "0.9"
    assert cells[4].startswith("[-") and cells[-1] == "40000/40000"  # the bounds, the counts
    assert "failures 2/2" in text and "History:" in text and "x" in text.split("History:")[1]
    assert "! " in text and "AnalysisFailed" in text  # a Warning event, marked without colour
    assert "\x1b" not in text


def test_a_promotion_with_holdback_shows_the_window_then_its_end() -> None:
    holding = next((at, d) for at, d in PROMOTION if d["status"]["phase"] == "HoldingBack")
    text = render_experiment(holding[1], holding[1]["events"], holding[0])
    assert "(promoted), scorer-v1 5% (held back)" in text
    assert "Holdback:   scorer-v1 keeps 5% until" in text and "modelrollout undo" in text
    assert "next in 30s" in text  # time to the next analysis
    at, done = PROMOTION[-1]
    text = render_experiment(done, done["events"], at)
    assert "Phase:      Succeeded" in text and "scorer-v2 100% (promoted)" in text
    assert "HoldbackEnded" in text


def test_a_paused_holdback_window_shows_the_time_it_has_left() -> None:
    at, doc = next((at, d) for at, d in PROMOTION if d["status"]["phase"] == "HoldingBack")
    spec = ExperimentSpec.model_validate(doc["spec"])
    status = ExperimentStatus.model_validate(doc["status"])
    later = at + timedelta(seconds=30)
    paused = reconcile(spec, status, READY, None, UserIntent(paused=True), later).status
    doc = {**doc, "status": paused.to_wire()}
    text = render_experiment(doc, doc["events"], later + timedelta(hours=1))
    assert status.holdback is not None
    left = format_duration((status.holdback.ends_at - later).total_seconds())
    assert f"the window is paused with {left} left" in text, text
    assert "next due" not in text  # nothing is analysed while paused


def test_list_shows_one_line_per_experiment(tmp_path: Path) -> None:
    write_snapshot(tmp_path, ROLLBACK[-1][1])
    write_snapshot(tmp_path, PROMOTION[-1][1])
    text = render_list([ROLLBACK[-1][1], PROMOTION[-1][1]], ROLLBACK[-1][0])
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["NAMESPACE", "NAME", "MODEL", "PHASE"]
    assert any("scorer-v3-canary" in line and "RolledBack" in line for line in lines)
    out = subprocess.run([sys.executable, "-m", "modelrollout_operator.cli", "list",
                          "--local", str(tmp_path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and "scorer-v2-canary" in out.stdout and "Succeeded" in out.stdout


def _play(
    directory: Path, snapshots: list[tuple[datetime, dict]], pause: float
) -> threading.Thread:
    """Write the recorded snapshots one after another, as the demo's passes would."""

    def run() -> None:
        for _, doc in snapshots:
            write_snapshot(directory, doc)
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_watch_piped_prints_each_change_once_and_ends_with_the_experiment(tmp_path: Path) -> None:
    write_snapshot(tmp_path, ROLLBACK[0][1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelrollout_operator.cli", "get", "experiment",
         "scorer-v3-canary", "--local", str(tmp_path), "--watch", "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the watch is up (the interpreter may start slowly)
    player = _play(tmp_path, ROLLBACK, 0.3)
    rest = proc.stdout.read()  # to the end: the watch ends with the Experiment
    assert proc.wait(timeout=60) == 0, first + rest
    player.join()
    output = first + rest
    views = output.split("=== ")[1:]
    assert 3 <= len(views) <= len(ROLLBACK) + 1  # each change once, nothing repeated
    assert "Phase:      Progressing" in views[0]
    assert "Phase:      RolledBack" in views[-1] and "\x1b" not in output


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/setup.sh installs it)")
def test_watch_in_a_terminal_redraws_in_place_until_the_promotion_ends(tmp_path: Path) -> None:
    assert TMUX is not None
    write_snapshot(tmp_path, PROMOTION[0][1])
    session = f"liveview-{uuid.uuid4().hex[:8]}"
    socket = str(tmp_path / "tmux.sock")  # a server of our own, stopped by this test
    command = (f"{sys.executable} -m modelrollout_operator.cli get experiment scorer-v2-canary "
               f"--local {tmp_path} --watch --interval 0.1; echo WATCH-ENDED; sleep 30")  # fmt: skip
    env = {**os.environ, "TERM": "xterm"}
    subprocess.run([TMUX, "-S", socket, "new-session", "-d", "-s", session, "-x", "160", "-y",
                    "60", command], check=True, env=env)  # fmt: skip
    screens: list[str] = []

    def screen() -> str:
        return subprocess.run([TMUX, "-S", socket, "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    try:
        deadline = time.monotonic() + 60
        while "Name:" not in screen() and time.monotonic() < deadline:
            time.sleep(0.1)  # the watch is up (the interpreter may start slowly)
        player = _play(tmp_path, PROMOTION, 0.4)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = screen()
            screens.append(shown)
            if "WATCH-ENDED" in shown:
                break
            time.sleep(0.2)
        player.join()
    finally:
        subprocess.run([TMUX, "-S", socket, "kill-server"], check=False)
    final = screens[-1]
    assert "WATCH-ENDED" in final, final
    # Redrawn in place: every screen holds exactly one view, never a scrolled-up old one.
    assert all(s.count("Name:       scorer-v2-canary") <= 1 for s in screens)
    seen = {
        line.split()[1] for s in screens for line in s.splitlines() if line.startswith("Phase:")
    }
    assert {"Progressing", "HoldingBack", "Succeeded"} <= seen, seen
    assert "Phase:      Succeeded" in final and "HoldbackEnded" in final
    print(final)


KUBECTL = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "kubectl"


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is not in .tools/bin (scripts/setup.sh)")
def test_kubectl_runs_it_as_a_plugin(tmp_path: Path) -> None:
    write_snapshot(tmp_path, ROLLBACK[-1][1])
    scripts = Path(sys.executable).parent  # where pip put the kubectl-modelrollout script
    assert (scripts / "kubectl-modelrollout").exists()
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        [str(KUBECTL), "modelrollout", "get", "experiment", "scorer-v3-canary", "--local",
         str(tmp_path)], capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Phase:      RolledBack" in out.stdout
