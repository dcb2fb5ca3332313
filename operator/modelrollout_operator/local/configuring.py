"""The demo's configuration: the same ModelVersion/Experiment YAML a cluster user applies.

Reading is I/O (`load_manifests`); everything else is pure: what the trainer is asked to do
for a ModelVersion's `spec.training`, how a dataset URI maps to a local file, how a
`--fast` run shortens an Experiment's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..api.v1alpha1 import (
    API_VERSION,
    Experiment,
    ExperimentSpec,
    ModelVersion,
    format_duration,
    parse_duration,
)
from ..errors import ModelRolloutError
from ..resources.training import trainer_args


class ManifestError(ModelRolloutError, ValueError):
    """The demo's YAML is missing, invalid, or does not hang together."""


@dataclass(frozen=True)
class Manifests:
    model_versions: dict[str, ModelVersion] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)

    def version(self, name: str) -> ModelVersion:
        try:
            return self.model_versions[name]
        except KeyError:
            known = ", ".join(sorted(self.model_versions)) or "none"
            raise ManifestError(f"no ModelVersion named {name!r} (found: {known})") from None

    def experiment(self, name: str) -> Experiment:
        try:
            return self.experiments[name]
        except KeyError:
            known = ", ".join(sorted(self.experiments)) or "none"
            raise ManifestError(f"no Experiment named {name!r} (found: {known})") from None


def _name(document: dict[str, Any], source: str) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{source}: {document.get('kind')} without metadata.name")
    return name


def parse_manifests(documents: Iterable[tuple[str, Any]]) -> Manifests:
    """ModelVersions and Experiments from (source, document) pairs; other kinds are skipped."""
    versions: dict[str, ModelVersion] = {}
    experiments: dict[str, Experiment] = {}
    for source, document in documents:
        if not isinstance(document, dict) or document.get("apiVersion") != API_VERSION:
            continue
        kind = document.get("kind")
        if kind not in ("ModelVersion", "Experiment"):
            continue
        name = _name(document, source)
        try:
            if kind == "ModelVersion":
                versions[name] = ModelVersion.model_validate(document)
            else:
                experiments[name] = Experiment.model_validate(document)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in error.errors()
            )
            raise ManifestError(f"{source}: {kind}/{name} is invalid: {problems}") from None
    for name, experiment in experiments.items():
        spec = experiment.spec
        for role, ref in (("baseline", spec.baseline), ("candidate", spec.candidate)):
            if ref not in versions:
                raise ManifestError(f"Experiment/{name}: spec.{role} {ref!r} is not defined")
            if versions[ref].spec.model != spec.model:
                raise ManifestError(
                    f"Experiment/{name}: spec.{role} {ref!r} is a version of model "
                    f"{versions[ref].spec.model!r}, not {spec.model!r}"
                )
    return Manifests(versions, experiments)


def load_manifests(directory: Path) -> Manifests:
    """Every *.yaml / *.yml under `directory`, multi-document files included."""
    if not directory.is_dir():
        raise ManifestError(f"demo configuration folder not found: {directory}")
    files = sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")])
    documents: list[tuple[str, Any]] = []
    for path in files:
        try:
            documents.extend((str(path), d) for d in yaml.safe_load_all(path.read_text("utf-8")))
        except yaml.YAMLError as error:
            raise ManifestError(f"{path}: not valid YAML: {error}") from None
    return parse_manifests(documents)


def local_dataset_path(uri: str, data_dir: Path) -> Path:
    """Where a dataset lives locally: `file://` and plain paths as given (relative ones under
    `data_dir`); for `s3://bucket/key` the local copy is `data_dir/<bucket>/<key>`."""
    if uri.startswith("s3://"):
        rest = uri.removeprefix("s3://").strip("/")
        if "/" not in rest:
            raise ManifestError(f"dataset URI {uri!r} names a bucket but no object")
        return data_dir / rest
    path = Path(uri.removeprefix("file://"))
    return path if path.is_absolute() else data_dir / path


def trainer_argv(version: ModelVersion, dataset: Path, repository: Path) -> list[str]:
    """The `modelrollout-trainer train` arguments for a ModelVersion's spec.training: the
    operator's Job's own (one builder), the dataset and output redirected to local paths."""
    spec = version.spec
    training = spec.training
    if training is None:
        raise ManifestError(
            f"ModelVersion/{version.metadata.get('name')} has no spec.training: local mode "
            "trains every version it serves"
        )
    return trainer_args(spec, training, dataset=str(dataset), output=str(repository))


def _scaled(duration: str, factor: float, floor: float) -> str:
    return format_duration(max(floor, parse_duration(duration) * factor))


def shorten(spec: ExperimentSpec, factor: float, floor: float = 1.0) -> ExperimentSpec:
    """The spec with its clock (interval, bakes, no-data wait, windows) scaled by `factor`.

    Weights, bounds and sample sizes are untouched: a faster run takes the same decisions on
    the same evidence, it only looks more often.
    """
    if not 0 < factor <= 1:
        raise ValueError(f"a time factor must be in (0, 1], got {factor}")
    data = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    analysis = data["analysis"]
    analysis["interval"] = _scaled(analysis["interval"], factor, floor)
    analysis["noData"]["after"] = _scaled(analysis["noData"]["after"], factor, floor)
    for metric in analysis["metrics"]:
        metric["window"] = _scaled(metric["window"], factor, max(floor, 2.0))
    strategy = data["strategy"]
    canary = strategy.get("canary")
    if canary is not None:
        canary["stepBake"] = _scaled(canary["stepBake"], factor, floor)
        for step in canary.get("steps") or []:
            if "bake" in step:
                step["bake"] = _scaled(step["bake"], factor, floor)
    if strategy.get("abTest") is not None:
        for key in ("minDuration", "maxDuration"):
            strategy["abTest"][key] = _scaled(strategy["abTest"][key], factor, 0.0)
    if strategy.get("shadow") is not None:
        strategy["shadow"]["duration"] = _scaled(strategy["shadow"]["duration"], factor, floor)
    return ExperimentSpec.model_validate(data)
