"""Marks by folder (tests/conftest.py) really select: `-m "not slow"` runs no e2e test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import TESTS, marks_for


def test_operator_e2e_files_are_marked_slow_by_their_folder() -> None:
    for path in (TESTS / "operator" / "e2e").glob("test_*.py"):
        assert "slow" in marks_for(path), path
    assert marks_for(TESTS / "operator" / "k8s" / "test_k8s_manifests.py") == ()


def test_not_slow_deselects_every_operator_e2e_test() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
         str(TESTS / "operator" / "e2e"), str(TESTS / "operator" / "k8s")],
        capture_output=True, text=True, check=False, cwd=Path(TESTS).parent,
    )  # fmt: skip
    selected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert selected, "the k8s tests must still be collected"
    assert not [line for line in selected if "/e2e/" in line], selected
    assert "deselected" in proc.stdout
