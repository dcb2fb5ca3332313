"""The plot the demo points the user at outlives the demo: never the temporary work dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout_operator.local.demo import DemoOptions, timeline_path


def test_default_plot_goes_to_the_current_directory_not_the_deleted_work_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert timeline_path(DemoOptions(examples=tmp_path)) == tmp_path / "demo-timeline.png"


def test_a_kept_work_dir_holds_the_plot(tmp_path: Path) -> None:
    options = DemoOptions(examples=tmp_path, workdir=tmp_path / "work")
    assert timeline_path(options) == tmp_path / "work" / "demo-timeline.png"


def test_an_explicit_timeline_wins(tmp_path: Path) -> None:
    options = DemoOptions(examples=tmp_path, workdir=tmp_path, timeline=tmp_path / "t.png")
    assert timeline_path(options) == tmp_path / "t.png"
