"""`modelrollout demo --scenario continuous --fast` end to end: the live data drifts, the
Model's loop retrains on the gateway's logged feedback, canaries the new version against the
one in service and promotes it, and the live accuracy comes back (issue 13, Done when)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODELROLLOUT = Path(sys.executable).parent / "modelrollout"  # the console script
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_continuous_demo_retrains_on_feedback_and_recovers_accuracy_within_2_points(
    tmp_path: Path,
) -> None:
    summary_path = tmp_path / "summary.json"
    timeline = tmp_path / "timeline.png"
    command = [
        str(MODELROLLOUT), "demo", "--scenario", "continuous", "--fast",
        "--workdir", str(tmp_path / "work"), "--summary-json", str(summary_path),
        "--timeline", str(timeline),
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=400, check=False
    )
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert summary_path.is_file(), f"no summary written (exit {proc.returncode}):\n{output[-4000:]}"
    summary = json.loads(summary_path.read_text())
    pre, drifted, recovered = summary["preDrift"], summary["drifted"], summary["recovered"]

    # The drift hurt the version in service, on live labelled traffic.
    assert pre["version"] == drifted["version"] == "1"
    assert drifted["accuracy"] < pre["accuracy"] - 0.05, (pre, drifted)
    # The loop trained version 2 on the prediction log's labelled rows, and promoted it.
    retrained = summary["retrained"]
    assert retrained["version"] == 2 and retrained["outcome"] == "Promoted", retrained
    assert retrained["logRows"] > 0, retrained
    assert summary["promoted"] and summary["inService"] == retrained["name"]
    # After the cycle, the live accuracy of the promoted version on the drifted traffic is
    # within 2 points of v1's before the drift (windows of the same length).
    assert recovered is not None and recovered["version"] == "2"
    assert abs((recovered["end"] - recovered["start"]) - (pre["end"] - pre["start"])) < 1.0
    assert min(pre["labels"], recovered["labels"]) >= 500, (pre, recovered)
    assert recovered["accuracy"] >= pre["accuracy"] - 0.02, (pre, recovered)
    assert summary["ok"] and proc.returncode == 0, output[-4000:]
    # The story and the plot of the whole cycle.
    for said in ("Adopted", "drifts", "TrainingStarted", "building the dataset", "Promoted"):
        assert said in proc.stdout, f"{said!r} not told:\n{proc.stdout[-3000:]}"
    assert timeline.read_bytes()[:8] == PNG_MAGIC
    print(
        f"pre-drift v1 {pre['accuracy']:.3f}, drifted v1 {drifted['accuracy']:.3f}, "
        f"recovered v2 {recovered['accuracy']:.3f}; {retrained['logRows']} log rows; "
        f"{seconds:.0f}s"
    )
