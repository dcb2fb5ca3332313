"""Several trainings of one model into one repository at once never fail (issue 11, item 8).

Every version of a model writes the same `<model>/config.pbtxt`: each writer copies to a
temporary name of its own in the destination directory and renames it over the target, so
concurrent writers never rename each other's half-written file away, and a reader always
sees one whole file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from modelrollout_trainer.storage import upload_file

TRAINER = [sys.executable, "-m", "modelrollout_trainer.cli"]


def _texts(tmp_path: Path, writers: int) -> list[Path]:
    sources = []
    for w in range(writers):
        source = tmp_path / "staging" / str(w) / "config.pbtxt"
        source.parent.mkdir(parents=True)
        # Large enough that a copy is not one write: a torn file would show.
        source.write_text(f"# writer {w}\n" + f"line {w}\n" * 20_000, encoding="utf-8")
        sources.append(source)
    return sources


def test_concurrent_writers_of_one_repository_file_never_fail_and_leave_it_whole(
    tmp_path: Path,
) -> None:
    writers, rounds = 8, 40
    sources = _texts(tmp_path, writers)
    texts = {s.read_text(encoding="utf-8") for s in sources}
    target = tmp_path / "repo" / "scorer" / "config.pbtxt"
    stop = threading.Event()
    torn: list[str] = []

    def read_all_the_time() -> None:
        while not stop.is_set():
            try:
                seen = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue  # not written yet
            if seen not in texts:
                torn.append(seen[:40])

    def write(source: Path) -> None:
        for _ in range(rounds):
            upload_file(source, str(target))

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(write, sources))  # re-raises the first writer's error
    finally:
        stop.set()
        reader.join()
    assert not torn, f"a reader saw a partial file: {torn[:3]}"
    assert target.read_text(encoding="utf-8") in texts
    leftovers = sorted(p.name for p in target.parent.iterdir() if p.name != "config.pbtxt")
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    assert target.stat().st_mode & 0o444 == 0o444  # readable by the server that loads it


def test_a_failed_copy_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "repo" / "scorer" / "config.pbtxt"
    target.parent.mkdir(parents=True)
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        upload_file(tmp_path / "missing", str(target))
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.pbtxt"]


def _train_argv(dataset: Path, repository: Path, version: int, seed: int) -> list[str]:
    small = ["--epochs", "2", "--hidden", "8", "--device", "cpu", "--threads", "1", "--quiet"]
    return [
        *TRAINER, "train", "--dataset", str(dataset), "--model", "scorer",
        "--version", str(version), "--output", str(repository), "--seed", str(seed), *small,
    ]  # fmt: skip


@pytest.mark.slow
def test_several_trainings_of_one_model_into_one_repository_at_once_never_fail(
    tmp_path: Path, small_frame: pd.DataFrame
) -> None:
    """The real trainer, as the demo runs it: one process per version, all at once, twice."""
    dataset = tmp_path / "train.csv"
    small_frame.head(1500).to_csv(dataset, index=False)
    repository = tmp_path / "models"
    versions = (1, 2, 3)
    for round_ in range(2):
        procs = [
            subprocess.Popen(
                _train_argv(dataset, repository, v, seed=v + 10 * round_),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for v in versions
        ]
        outputs = [p.communicate(timeout=180)[0] for p in procs]
        for v, proc, out in zip(versions, procs, outputs, strict=True):
            assert proc.returncode == 0, f"round {round_}, version {v}:\n{out[-2000:]}"
            result = json.loads(out.strip().splitlines()[-1])
            assert result["artifact"]["uri"].endswith(f"scorer/{v}/model.onnx")
    entry = repository / "scorer"
    assert sorted(p.name for p in entry.iterdir()) == ["1", "2", "3", "config.pbtxt"]
    assert 'name: "scorer"' in (entry / "config.pbtxt").read_text(encoding="utf-8")
    for v in versions:
        assert sorted(p.name for p in (entry / str(v)).iterdir()) == [
            "metrics.json",
            "model.onnx",
            "model.onnx.sha256",
        ]
