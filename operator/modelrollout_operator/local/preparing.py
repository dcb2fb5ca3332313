"""Draw the datasets and train every ModelVersion with the real trainer, as subprocesses.

The trainer is reached through its command line (`python -m modelrollout_trainer.cli`), with
the arguments the operator's Job would give it (`manifests.trainer_argv`), and answers with
its JSON result line (docs/contracts.md section 3).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.v1alpha1 import ModelVersion
from ..errors import ModelRolloutError
from .configuring import ManifestError, local_dataset_path, trainer_argv
from .recipes import TRAFFIC_FILE, recipe_for
from .supervising import Supervisor

TRAINER = (sys.executable, "-m", "modelrollout_trainer.cli")
EXIT_GATE_FAILED = 3


class PreparationError(ModelRolloutError, RuntimeError):
    """A dataset could not be drawn or a version could not be trained."""


@dataclass(frozen=True)
class Trained:
    name: str  # the ModelVersion's name
    version: str  # its number, as the gateway labels it
    result: dict[str, Any]  # the trainer's JSON result

    @property
    def test_accuracy(self) -> float | None:
        value = self.result.get("metrics", {}).get("test", {}).get("accuracy")
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Prepared:
    repository: Path
    traffic: Path
    trained: dict[str, Trained]


def last_json_line(output: str) -> dict[str, Any] | None:
    """The trainer's result: the last line of its output that is a JSON object."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def repository_of(versions: Sequence[ModelVersion], workdir: Path) -> Path:
    """The one local model repository every version trains into (`spec.training.output`)."""
    outputs = {
        local_dataset_path(v.spec.training.output, workdir)
        for v in versions
        if v.spec.training is not None
    }
    if len(outputs) != 1:
        raise ManifestError(
            "local mode serves every version from one model repository: the ModelVersions' "
            f"spec.training.output differ ({', '.join(sorted(map(str, outputs)))})"
        )
    return outputs.pop()


def prepare(
    versions: Sequence[ModelVersion],
    workdir: Path,
    supervisor: Supervisor,
    *,
    row_scale: float = 1.0,
    timeout: float = 600.0,
    say: Callable[[str], None] = print,
) -> Prepared:
    """Draw the missing datasets, then train every version side by side."""
    repository = repository_of(versions, workdir)
    datasets: dict[str, Path] = {}
    for v in versions:
        assert v.spec.training is not None  # repository_of checked it
        datasets[str(v.metadata["name"])] = local_dataset_path(v.spec.training.dataset, workdir)
    data_dir = next(iter(datasets.values())).parent
    traffic = data_dir / TRAFFIC_FILE
    draws = sorted({*datasets.values(), traffic})
    for path in draws:
        path.parent.mkdir(parents=True, exist_ok=True)
    say(f"drawing {len(draws)} synthetic datasets in {data_dir}")
    jobs = [(f"synth-{p.stem}", [*TRAINER, *recipe_for(p).argv(p, row_scale)]) for p in draws]
    for (name, _), (code, output) in zip(jobs, supervisor.run(jobs, timeout=timeout), strict=True):
        if code != 0:
            raise PreparationError(f"{name} failed with exit code {code}:\n{_tail(output)}")

    say(f"training {len(versions)} versions with the real trainer into {repository}")
    train_jobs = []
    for v in versions:
        name = str(v.metadata["name"])
        argv = [*TRAINER, *trainer_argv(v, datasets[name], repository), "--threads", "1", "--quiet"]
        train_jobs.append((f"train-{name}", argv))
    trained: dict[str, Trained] = {}
    for v, (job, _), (code, output) in zip(
        versions, train_jobs, supervisor.run(train_jobs, timeout=timeout), strict=True
    ):
        name = str(v.metadata["name"])
        result = last_json_line(output)
        if code == EXIT_GATE_FAILED and result is not None:
            reasons = "; ".join(result.get("gate", {}).get("reasons", []))
            raise PreparationError(
                f"{name} was Rejected by its acceptance gate ({reasons}): it cannot be served"
            )
        if code != 0 or result is None:
            raise PreparationError(f"{job} failed with exit code {code}:\n{_tail(output)}")
        trained[name] = Trained(name, str(v.spec.version), result)
    return Prepared(repository, traffic, trained)


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join(output.splitlines()[-lines:])
