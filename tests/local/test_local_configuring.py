"""The demo reads the same YAML a cluster user applies, and maps it to trainer arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ExperimentSpec, parse_duration
from modelrollout_operator.local.configuring import (
    ManifestError,
    load_manifests,
    local_dataset_path,
    parse_manifests,
    shorten,
    trainer_argv,
)
from modelrollout_operator.local.recipes import RecipeError, recipe_for
from modelrollout_operator.local.scenarios import SCENARIOS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo"


def test_the_demo_examples_hold_every_scenario_and_its_versions() -> None:
    manifests = load_manifests(EXAMPLES)
    for scenario in SCENARIOS:
        experiment = manifests.experiment(scenario.experiment)
        for name in (experiment.spec.baseline, experiment.spec.candidate):
            version = manifests.version(name)
            assert version.spec.training is not None, f"{name} must be trainable locally"
            # the demo knows how to draw every dataset the examples train on
            recipe_for(local_dataset_path(version.spec.training.dataset, Path("/w")))


def test_trainer_arguments_follow_spec_training() -> None:
    version = load_manifests(EXAMPLES).version("scorer-v2")
    argv = trainer_argv(version, Path("/w/data.csv"), Path("/w/models"))
    flags = dict(zip(argv[1::2], argv[2::2], strict=False))
    training = version.spec.training
    assert training is not None
    assert argv[0] == "train"
    assert flags["--dataset"] == "/w/data.csv"
    assert flags["--output"] == "/w/models"
    assert flags["--model"] == "scorer"
    assert flags["--version"] == "2"
    assert flags["--epochs"] == str(training.hyperparameters.epochs)
    assert flags["--hidden"] == ",".join(map(str, training.hyperparameters.hidden))
    assert flags["--min-accuracy"] == repr(training.acceptance.min_accuracy)
    assert flags["--device"] == "cpu"


def test_dataset_uris_map_to_local_files() -> None:
    data = Path("/w")
    assert local_dataset_path(".demo/data/a.csv", data) == Path("/w/.demo/data/a.csv")
    assert local_dataset_path("/abs/a.csv", data) == Path("/abs/a.csv")
    assert local_dataset_path("file:///abs/a.csv", data) == Path("/abs/a.csv")
    assert local_dataset_path("s3://bucket/k/a.csv", data) == Path("/w/bucket/k/a.csv")
    with pytest.raises(ManifestError, match="no object"):
        local_dataset_path("s3://bucket", data)


def test_an_unknown_dataset_is_named_in_the_error() -> None:
    with pytest.raises(RecipeError, match=r"'mystery\.csv'"):
        recipe_for(Path("/w/mystery.csv"))


def _documents(tmp_path: Path, *docs: dict[str, object]) -> Path:
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return tmp_path


def _mv(name: str, model: str = "scorer", version: int = 1) -> dict[str, object]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "version": version,
            "training": {"image": "t", "dataset": "d.csv", "output": "models"},
        },
    }


def _exp(baseline: str, candidate: str) -> dict[str, object]:
    return {
        "apiVersion": "modelrollout.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "e"},
        "spec": {"model": "scorer", "baseline": baseline, "candidate": candidate},
    }


def test_an_experiment_naming_a_missing_version_is_refused(tmp_path: Path) -> None:
    folder = _documents(tmp_path, _mv("a"), _exp("a", "b"))
    with pytest.raises(ManifestError, match=r"spec.candidate 'b' is not defined"):
        load_manifests(folder)


def test_a_version_of_another_model_is_refused(tmp_path: Path) -> None:
    folder = _documents(tmp_path, _mv("a"), _mv("b", model="ranker", version=2), _exp("a", "b"))
    with pytest.raises(ManifestError, match="version of model 'ranker'"):
        load_manifests(folder)


def test_an_invalid_resource_names_its_field(tmp_path: Path) -> None:
    bad = _mv("a")
    bad["spec"]["version"] = 0  # type: ignore[index]
    with pytest.raises(ManifestError, match=r"ModelVersion/a is invalid: spec.version"):
        load_manifests(_documents(tmp_path, bad))


def test_other_kinds_are_skipped_and_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    manifests = parse_manifests([("x", {"apiVersion": "v1", "kind": "ConfigMap"}), ("y", None)])
    assert not manifests.model_versions and not manifests.experiments
    with pytest.raises(ManifestError, match="not found"):
        load_manifests(tmp_path / "nowhere")


@given(st.sampled_from([0.25, 0.5, 0.75, 1.0]))
def test_shorten_scales_the_clock_and_nothing_else(factor: float) -> None:
    spec = load_manifests(EXAMPLES).experiment("scorer-v2-canary").spec
    fast = shorten(spec, factor)
    assert isinstance(fast, ExperimentSpec)
    assert fast.analysis.interval_seconds <= spec.analysis.interval_seconds
    assert fast.analysis.interval_seconds >= 1.0
    assert spec.strategy.canary is not None and fast.strategy.canary is not None
    old_steps, new_steps = spec.strategy.canary.steps or [], fast.strategy.canary.steps or []
    assert [s.weight for s in new_steps] == [s.weight for s in old_steps]
    for old, new in zip(old_steps, new_steps, strict=True):
        assert old.bake is not None and new.bake is not None
        assert parse_duration(new.bake) <= parse_duration(old.bake)
    assert [m.min_samples for m in fast.analysis.metrics] == [
        m.min_samples for m in spec.analysis.metrics
    ]
    assert fast.analysis.alpha == spec.analysis.alpha


def test_shorten_refuses_a_factor_that_slows_down() -> None:
    spec = load_manifests(EXAMPLES).experiment("scorer-v2-canary").spec
    with pytest.raises(ValueError, match="time factor"):
        shorten(spec, 2.0)
