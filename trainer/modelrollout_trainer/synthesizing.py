"""A synthetic tabular scoring set: will this user engage with this item in this context?

39 features (12 user, 12 item, 10 context, 5 timing) and a binary label drawn from a hidden
nonlinear rule plus noise. The rule depends only on `rule_seed`, the sample only on `seed`,
so datasets drawn with different seeds share one ground truth and a model trained on one
can be judged on another.

Two knobs make a deliberately worse training set, worse for a real reason:
- `label_noise`: each label is flipped with this probability (noisy annotators);
- `shift`: the label is inverted for the context segment `ctx_0 < shift` (an upstream join
  that mislabels one client segment), so a model trained on it learns a wrong relation there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import UsageError
from .schema import (
    CONTEXT_FEATURES,
    ITEM_FEATURES,
    LABEL_COLUMN,
    TIMING_FEATURES,
    USER_FEATURES,
)

Array = npt.NDArray[np.float64]

_LATENT = 4  # rank of the hidden user-item affinity
_SHARPNESS = 4.0  # how deterministic the label is given the features (Bayes accuracy ~0.91)


@dataclass(frozen=True)
class SynthSpec:
    rows: int
    seed: int = 0
    rule_seed: int = 0
    label_noise: float = 0.0
    shift: float = 0.0

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise UsageError(f"--rows must be positive, got {self.rows}")
        if not 0.0 <= self.label_noise <= 0.5:
            raise UsageError(f"--label-noise must be in [0, 0.5], got {self.label_noise}")
        if not 0.0 <= self.shift <= 1.0:
            raise UsageError(f"--shift must be in [0, 1], got {self.shift}")


@dataclass(frozen=True)
class _Rule:
    user_latent: Array  # [12, latent]
    item_latent: Array  # [12, latent]
    context_weights: Array  # [10]
    phase: float
    offset: float


def _draw_features(rng: np.random.Generator, rows: int) -> dict[str, Array]:
    user = rng.normal(0.0, 1.0, size=(rows, len(USER_FEATURES)))
    item = rng.normal(0.0, 1.0, size=(rows, len(ITEM_FEATURES)))
    context = rng.uniform(0.0, 1.0, size=(rows, len(CONTEXT_FEATURES)))
    timing = np.column_stack(
        [
            rng.uniform(0.0, 1.0, rows),  # hour of day / 24
            rng.integers(0, 7, rows) / 7.0,  # day of week / 7
            rng.exponential(1.0, rows),  # days since last visit
            rng.gamma(2.0, 0.5, rows),  # session length, minutes / 10
            rng.uniform(0.0, 3.0, rows),  # account age, years
        ]
    )
    return {"user": user, "item": item, "context": context, "timing": timing}


def _raw_logit(rule: _Rule, parts: dict[str, Array]) -> Array:
    user, item, context, timing = parts["user"], parts["item"], parts["context"], parts["timing"]
    affinity = np.sum((user @ rule.user_latent) * (item @ rule.item_latent), axis=1) / 2.0
    ctx = (context - 0.5) @ rule.context_weights
    ctx += 2.0 * np.maximum(context[:, 1] - 0.6, 0.0) * np.sign(affinity)  # context amplifies
    daily = 0.8 * np.sin(2 * np.pi * timing[:, 0] + rule.phase)
    recency = -0.6 * np.log1p(timing[:, 2]) + 0.3 * np.tanh(timing[:, 3] - 1.0)
    logit: Array = 1.2 * np.tanh(affinity) + ctx + daily + recency + 0.2 * timing[:, 4]
    return logit


def _make_rule(rule_seed: int) -> _Rule:
    rng = np.random.default_rng([rule_seed, 0x5EED])
    scale = 1.0 / np.sqrt(len(USER_FEATURES))
    rule = _Rule(
        user_latent=rng.normal(0.0, scale, size=(len(USER_FEATURES), _LATENT)),
        item_latent=rng.normal(0.0, scale, size=(len(ITEM_FEATURES), _LATENT)),
        context_weights=rng.normal(0.0, 1.0, size=len(CONTEXT_FEATURES)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        offset=0.0,
    )
    # centre the rule so the classes are about balanced; part of the rule, hence seeded by it
    sample = _raw_logit(rule, _draw_features(rng, 20_000))
    return _Rule(
        rule.user_latent,
        rule.item_latent,
        rule.context_weights,
        rule.phase,
        float(np.median(sample)),
    )


def true_probability(frame: pd.DataFrame, rule_seed: int = 0) -> Array:
    """P(label = 1 | features) under the hidden rule: the Bayes-optimal score."""
    rule = _make_rule(rule_seed)
    parts = {
        "user": frame[list(USER_FEATURES)].to_numpy(np.float64),
        "item": frame[list(ITEM_FEATURES)].to_numpy(np.float64),
        "context": frame[list(CONTEXT_FEATURES)].to_numpy(np.float64),
        "timing": frame[list(TIMING_FEATURES)].to_numpy(np.float64),
    }
    return 1.0 / (1.0 + np.exp(-_SHARPNESS * (_raw_logit(rule, parts) - rule.offset)))


def synthesize(spec: SynthSpec) -> pd.DataFrame:
    """Draw `spec.rows` rows; feature columns float32, `label` int64 (0 or 1)."""
    rule = _make_rule(spec.rule_seed)
    rng = np.random.default_rng([spec.seed, 0xDA7A])
    parts = _draw_features(rng, spec.rows)
    logit = _SHARPNESS * (_raw_logit(rule, parts) - rule.offset)
    labels = (rng.uniform(size=spec.rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    if spec.label_noise > 0:
        labels ^= (rng.uniform(size=spec.rows) < spec.label_noise).astype(np.int64)
    if spec.shift > 0:
        labels ^= (parts["context"][:, 0] < spec.shift).astype(np.int64)
    columns: dict[str, npt.NDArray[np.generic]] = {}
    for group, names in (
        ("user", USER_FEATURES),
        ("item", ITEM_FEATURES),
        ("context", CONTEXT_FEATURES),
        ("timing", TIMING_FEATURES),
    ):
        for index, name in enumerate(names):
            columns[name] = parts[group][:, index].astype(np.float32)
    columns[LABEL_COLUMN] = labels
    return pd.DataFrame(columns)
