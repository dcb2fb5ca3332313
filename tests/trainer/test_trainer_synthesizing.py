from __future__ import annotations

import numpy as np
import pytest
import torch

from modelrollout_trainer.datasets.splitting import split_indices
from modelrollout_trainer.datasets.validating import validate
from modelrollout_trainer.errors import UsageError
from modelrollout_trainer.evaluating import evaluate
from modelrollout_trainer.schema import SCORING_FEATURES, DatasetSchema, Task
from modelrollout_trainer.synthesizing import SynthSpec, synthesize, true_probability
from modelrollout_trainer.training import Hyperparameters, predict, train

SCHEMA = DatasetSchema(SCORING_FEATURES, "label", Task.BINARY)


def test_columns_types_and_determinism() -> None:
    frame = synthesize(SynthSpec(rows=500, seed=4))
    assert list(frame.columns) == [*SCORING_FEATURES, "label"]
    assert set(frame["label"].unique()) <= {0, 1}
    assert frame.equals(synthesize(SynthSpec(rows=500, seed=4)))
    assert not frame.equals(synthesize(SynthSpec(rows=500, seed=5)))
    assert 0.4 < frame["label"].mean() < 0.6


def test_hidden_rule_is_learnable_but_noisy() -> None:
    frame = synthesize(SynthSpec(rows=20_000, seed=1))
    bayes = float(np.mean((true_probability(frame) >= 0.5) == frame["label"]))
    assert 0.88 < bayes < 0.95


def test_shift_inverts_exactly_the_segment() -> None:
    clean = synthesize(SynthSpec(rows=2000, seed=3))
    shifted = synthesize(SynthSpec(rows=2000, seed=3, shift=0.3))
    flipped = clean["label"] != shifted["label"]
    assert np.array_equal(flipped.to_numpy(), (clean["ctx_0"] < 0.3).to_numpy())


def test_label_noise_flips_about_that_share() -> None:
    clean = synthesize(SynthSpec(rows=20_000, seed=3))
    noisy = synthesize(SynthSpec(rows=20_000, seed=3, label_noise=0.2))
    assert abs(float((clean["label"] != noisy["label"]).mean()) - 0.2) < 0.015


@pytest.mark.parametrize(
    "spec", [{"rows": 0}, {"rows": 5, "label_noise": 0.7}, {"rows": 5, "shift": -0.1}]
)
def test_knobs_are_checked(spec: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        SynthSpec(**spec)  # type: ignore[arg-type]


def _clean_accuracy(spec: SynthSpec, clean_features: np.ndarray, clean_labels: np.ndarray) -> float:
    data = validate(synthesize(spec), SCHEMA)
    split = split_indices(data.rows, 0, strata=data.labels.astype(np.int64))
    model = train(
        Task.BINARY,
        2,
        (data.features[split.train], data.labels[split.train]),
        (data.features[split.validation], data.labels[split.validation]),
        Hyperparameters(epochs=25, batch_size=512),
        torch.device("cpu"),
    )
    return evaluate(Task.BINARY, clean_labels, predict(model.head, clean_features))["accuracy"]


def test_a_shifted_training_set_gives_a_measurably_worse_model() -> None:
    """The demo's bad candidate: trained on a segment with inverted labels, judged on clean data."""
    # One thread: on a busy 2-core machine OpenMP's spinning threads cost minutes, not seconds.
    torch.set_num_threads(1)
    clean = validate(synthesize(SynthSpec(rows=10_000, seed=99)), SCHEMA)
    baseline = _clean_accuracy(SynthSpec(rows=20_000, seed=1), clean.features, clean.labels)
    worse = _clean_accuracy(SynthSpec(rows=20_000, seed=2, shift=0.2), clean.features, clean.labels)
    assert baseline >= 0.85
    assert baseline - worse >= 0.05
