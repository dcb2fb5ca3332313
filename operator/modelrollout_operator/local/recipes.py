"""The demo's synthetic datasets: how each file the demo's ModelVersions train on is drawn.

The YAML names a dataset by path (`spec.training.dataset`); in a cluster it already exists,
here the demo draws it first with `modelrollout-trainer synth`. Every file shares one hidden
labelling rule (`rule_seed`), so a model trained on one is judged fairly on another:
- the baseline's sample is small (a model that is fine, not great);
- the good candidate's is larger, from the same distribution;
- the bad candidate's is as large, but one client segment (`ctx_0 < shift`) was mislabelled
  upstream (its labels inverted) and a share of the rest flipped: the trained model still
  clears its offline gate on its own test split, and is wrong on live traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelRolloutError

TRAFFIC_FILE = "traffic.csv"  # held-out clean rows the load generator sends
DRIFTED_TRAFFIC_FILE = "traffic-drifted.csv"  # the same, drawn after the segment shift


class RecipeError(ModelRolloutError, LookupError):
    """A ModelVersion names a dataset the demo does not know how to draw."""


@dataclass(frozen=True)
class SynthRecipe:
    rows: int
    seed: int
    rule_seed: int = 0
    label_noise: float = 0.0
    shift: float = 0.0

    def argv(self, output: Path, scale: float = 1.0, minimum_rows: int = 3000) -> list[str]:
        """`modelrollout-trainer synth` arguments; `scale` shrinks the row count (--fast), never
        below `minimum_rows` (a smaller baseline sample would make a different story)."""
        if not 0 < scale <= 1:
            raise ValueError(f"a row scale must be in (0, 1], got {scale}")
        rows = max(min(minimum_rows, self.rows), round(self.rows * scale))
        argv = [
            "synth", "--rows", str(rows), "--output", str(output), "--seed", str(self.seed),
            "--rule-seed", str(self.rule_seed),
        ]  # fmt: skip
        if self.label_noise:
            argv += ["--label-noise", repr(self.label_noise)]
        if self.shift:
            argv += ["--shift", repr(self.shift)]
        return argv


#: By file name, as the examples/demo ModelVersions name them.
RECIPES: dict[str, SynthRecipe] = {
    "scorer-v1.csv": SynthRecipe(rows=3000, seed=1),
    "scorer-v2.csv": SynthRecipe(rows=20000, seed=2),
    "scorer-v3-noisy.csv": SynthRecipe(rows=20000, seed=3, label_noise=0.05, shift=0.45),
    TRAFFIC_FILE: SynthRecipe(rows=5000, seed=99),
    # `--scenario continuous`: the Model's small base set, and the live traffic after it
    # drifted (the segment `ctx_0 < 0.35` now answers the other way; labels follow it).
    "scorer-base.csv": SynthRecipe(rows=1000, seed=5),
    DRIFTED_TRAFFIC_FILE: SynthRecipe(rows=5000, seed=98, shift=0.35),
}


def recipe_for(dataset: Path) -> SynthRecipe:
    try:
        return RECIPES[dataset.name]
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise RecipeError(
            f"the demo cannot draw dataset {dataset.name!r}: it knows {known}; point "
            "spec.training.dataset at an existing file instead"
        ) from None
