"""Contract 3 for a Model's versions: the training Job's first step (the dataset builder) and
its trainer run command lines the trainer's own parser accepts, and they agree on the data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from modelrollout_operator.api.v1alpha1 import Model, ModelVersion
from modelrollout_operator.resources.manifests import training_job
from modelrollout_operator.rollout.learning import Context, version_body
from modelrollout_trainer import cli as trainer_cli

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_models_training_job_builds_its_dataset_first_with_the_trainers_own_parser() -> None:
    model = Model.model_validate(yaml.safe_load((ROOT / "examples" / "model.yaml").read_text()))
    ctx = Context(name="churn", namespace="ml", trainer_image="trainer:1")
    body = version_body(ctx, model.spec, 4, AT)
    mv = ModelVersion.model_validate(body)
    job = training_job({**body, "metadata": {**body["metadata"], "uid": "u-4"}}, mv.spec)
    pod = job["spec"]["template"]["spec"]
    (step,) = pod["initContainers"]
    (trainer,) = pod["containers"]
    assert step["image"] == trainer["image"] == "trainer:1"
    assert step["envFrom"] == trainer["envFrom"]  # the same S3 credentials
    build = trainer_cli.build_parser().parse_args(step["args"])
    train = trainer_cli.build_parser().parse_args(trainer["args"])
    assert (build.command, train.command) == ("build-dataset", "train")
    assert build.output == train.dataset == "s3://ml-data/churn/built/churn-v4.parquet"
    assert build.logs == ["s3://ml-logs/gateway/predictions"]
    assert build.base == "s3://ml-data/churn/base.parquet"
    assert (build.since, build.until) == ("2026-11-01T12:00:00Z", "2026-12-01T12:00:00Z")
    assert build.min_labelled == 10000 and build.model == train.model == "churn"
    assert train.version == 4 and train.min_accuracy == 0.85
    assert step["securityContext"] == trainer["securityContext"]  # restricted, as the trainer
    rules = job["spec"]["podFailurePolicy"]["rules"]
    dataset_rules = {
        r["action"]: r["onExitCodes"]["values"]
        for r in rules
        if r["onExitCodes"]["containerName"] == "dataset"
    }
    assert dataset_rules == {"FailJob": [2], "Ignore": [6]}  # too few labels fail at once
