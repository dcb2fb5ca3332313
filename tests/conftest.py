"""Marks by path, as kopf's tests/conftest.py does: a `pytestmark` in a conftest.py is ignored
by pytest, so folders whose every test is slow (or needs a real part) are marked here, at
collection time. `pytest -m "not slow"` then runs none of them (tests/test_markers.py checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kmock
import pytest

from tests.support.kubernetes import ApiServerEmulator

TESTS = Path(__file__).resolve().parent

# Folder (relative to tests/) -> marks every test below it gets.
MARKS_BY_FOLDER: dict[str, tuple[str, ...]] = {
    "operator/e2e": ("slow", "prometheus"),
    "local/e2e": ("slow",),  # local mode end to end: gateway, trainer, Prometheus processes
    "inpod": ("slow", "inpod"),
}


def marks_for(path: Path) -> tuple[str, ...]:
    """The marks a test file gets from the folder it lives in."""
    try:
        relative = path.resolve().relative_to(TESTS)
    except ValueError:
        return ()
    marks: list[str] = []
    for folder, folder_marks in MARKS_BY_FOLDER.items():
        if relative.parts[: len(Path(folder).parts)] == Path(folder).parts:
            marks.extend(m for m in folder_marks if m not in marks)
    return tuple(marks)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for mark in marks_for(Path(str(item.path))):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture()
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    """kmock's `kmock` fixture serves our ApiServerEmulator (uids and the like on every object
    created, as an API server sets them), unless a test's `kmock` marker names a class."""
    if kmock_options.get("cls", kmock.KubernetesEmulator) is kmock.KubernetesEmulator:
        return {**kmock_options, "cls": ApiServerEmulator}
    return kmock_options
