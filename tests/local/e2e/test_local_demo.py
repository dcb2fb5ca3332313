"""`modelrollout demo --fast` end to end, as a user runs it: real trainer, real gateway, real
Prometheus when installed; outcomes read from the machine-readable summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelrollout_operator.local.servers import find_prometheus

ROOT = Path(__file__).resolve().parents[3]
MODELROLLOUT = Path(sys.executable).parent / "modelrollout"  # the console script
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line names `text` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


@pytest.mark.slow
def test_demo_rolls_back_the_bad_candidate_and_promotes_the_good_one(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    summary_path = tmp_path / "summary.json"
    timeline = tmp_path / "timeline.png"
    command = [
        str(MODELROLLOUT), "demo", "--fast", "--workdir", str(workdir),
        "--summary-json", str(summary_path), "--timeline", str(timeline),
    ]  # fmt: skip
    proc = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert summary_path.is_file(), f"no summary written (exit {proc.returncode}):\n{output[-4000:]}"
    summary = json.loads(summary_path.read_text())
    scenarios = {s["experiment"]: s for s in summary["scenarios"]}

    bad = scenarios["scorer-v3-canary"]
    assert (bad["expected"], bad["actual"]) == ("RolledBack", "RolledBack"), output[-4000:]
    assert bad["finalWeights"] == {"1": 100, "3": 0}
    assert bad["accuracy"]["3"] < bad["accuracy"]["1"]

    good = scenarios["scorer-v2-canary"]
    assert (good["expected"], good["actual"]) == ("Succeeded", "Succeeded"), output[-4000:]
    assert good["stepsWalked"] == [10, 25, 50, 100]  # every step of examples/demo, in order
    assert good["totalSteps"] == 4
    assert good["finalWeights"] == {"1": 0, "2": 100}

    assert summary["ok"] is True and proc.returncode == 0, output[-4000:]
    # a real Prometheus whenever one is installed (MODELROLLOUT_DEMO_PROMETHEUS=off opts out)
    expected_source = "prometheus" if find_prometheus() else "gateway-counters"
    assert summary["metricsSource"] == expected_source
    said = "a real Prometheus" if expected_source == "prometheus" else "the gateway's own"
    assert f"metrics: {said}" in output
    assert summary["timeline"] == str(timeline)
    assert timeline.read_bytes()[:8] == PNG_MAGIC
    assert f"timeline plot: {timeline}" in output
    assert "scorer-v3-canary  step 1/4" in output  # live progress lines were printed

    # The last SIGKILL to a process group is not waited for: give the kernel a moment to end
    # what it was sent to (a process really left behind stays, and fails this).
    deadline = time.monotonic() + 10
    while (survivors := _processes_mentioning(str(workdir))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors == [], f"processes left behind: {survivors}"
