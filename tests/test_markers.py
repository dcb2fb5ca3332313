"""Marks by folder (tests/conftest.py) really select: `-m "not slow"` runs no e2e test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import TESTS, marks_for

E2E_FOLDERS = (TESTS / "operator" / "e2e", TESTS / "local" / "e2e")


def test_e2e_files_are_marked_slow_by_their_folder() -> None:
    for folder in E2E_FOLDERS:
        paths = list(folder.glob("test_*.py"))
        assert paths, folder
        for path in paths:
            assert "slow" in marks_for(path), path
    assert marks_for(TESTS / "operator" / "resources" / "test_resources_manifests.py") == ()
    assert marks_for(TESTS / "local" / "test_local_configuring.py") == ()


def test_not_slow_deselects_every_e2e_test() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
         *map(str, E2E_FOLDERS), str(TESTS / "operator" / "resources"), str(TESTS / "local")],
        capture_output=True, text=True, check=False, cwd=Path(TESTS).parent,
    )  # fmt: skip
    selected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("/resources/" in line for line in selected), "unit tests are still collected"
    assert any("tests/local/test_" in line for line in selected), "local unit tests too"
    assert not [line for line in selected if "/e2e/" in line], selected
    assert "deselected" in proc.stdout
