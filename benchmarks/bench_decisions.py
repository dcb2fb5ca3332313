"""Simulate the accuracy decision over seeded synthetic traffic: sequential vs naive threshold.

Each run is one candidate rolled out against a baseline. Every analysis interval brings
`--labels` labelled requests to the candidate and, at the candidate's `--weight`, the
matching share to the baseline (e.g. 200 and 1,800 at 10%). Two rules judge the runs:

* sequential: the engine's own accuracy check (`modelrollout_operator.analysis`), a
  confidence sequence for candidate - baseline over the cumulative counts, looked at every
  interval: fail (roll back) when it lies below -margin, pass (promote) when above;
* naive: a Flagger-style fixed threshold on each interval's window: fail when the window's
  candidate accuracy < baseline accuracy - margin; roll back after `failureLimit`
  consecutive failures; promote after `--naive-promote-after` intervals without rollback.

Printed per scenario (A/A, a drop at the margin, a 3-point and a 10-point drop): how often
each rule rolls back, promotes or stays undecided within the horizon, and the median
intervals and candidate samples to roll back or promote. Vectorised with numpy: every look
of every run is judged at once. A few runs are cross-checked against `evaluate()` itself.

    python benchmarks/bench_decisions.py [--runs 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelrollout_operator.analysis import Measurement, MetricObservation, evaluate
from modelrollout_operator.analysis.sequences import difference_cs
from modelrollout_operator.api.v1alpha1 import MetricCheck, Verdict

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Setup:
    runs: int
    horizon: int  # intervals per run
    labels: int  # candidate labels per interval
    weight: int  # candidate weight (percent): the baseline gets the rest
    baseline: float  # baseline accuracy
    margin: float  # maxDegradation (absolute)
    alpha: float
    min_samples: int
    naive_promote_after: int

    @property
    def baseline_labels(self) -> int:
        return round(self.labels * (100 - self.weight) / self.weight)


@dataclass(frozen=True)
class Outcome:
    rollback: BoolArray  # per run
    promote: BoolArray
    at: IntArray  # 1-based interval of the decision (0: undecided)


def first_true(flags: BoolArray) -> IntArray:
    """1-based index of the first True per row, 0 when none."""
    hit = flags.any(axis=1)
    return np.where(hit, flags.argmax(axis=1) + 1, 0).astype(np.int64)


def decide(fail_at: IntArray, pass_at: IntArray) -> Outcome:
    """Whichever verdict comes first ends the run."""
    inf = np.iinfo(np.int64).max
    f = np.where(fail_at > 0, fail_at, inf)
    p = np.where(pass_at > 0, pass_at, inf)
    rollback = (f < inf) & (f <= p)
    promote = (p < inf) & (p < f)
    at = np.where(rollback, f, np.where(promote, p, 0))
    return Outcome(rollback, promote, at)


def consecutive(flags: BoolArray, k: int) -> BoolArray:
    """True where the last k looks (this one included) were all True."""
    run = np.zeros(flags.shape[0], dtype=np.int64)
    out = np.zeros_like(flags)
    for t in range(flags.shape[1]):
        run = np.where(flags[:, t], run + 1, 0)
        out[:, t] = run >= k
    return out


def simulate(setup: Setup, delta: float, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """Per-interval correct counts, (runs, horizon), for candidate and baseline."""
    shape = (setup.runs, setup.horizon)
    cand = rng.binomial(setup.labels, setup.baseline + delta, shape).astype(np.int64)
    base = rng.binomial(setup.baseline_labels, setup.baseline, shape).astype(np.int64)
    return cand, base


def sequential(
    setup: Setup, cand: IntArray, base: IntArray, failure_limit: int
) -> tuple[Outcome, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    looks = np.arange(1, setup.horizon + 1)
    cs, bs = np.cumsum(cand, axis=1), np.cumsum(base, axis=1)
    cn = np.broadcast_to(looks * setup.labels, cs.shape)
    bn = np.broadcast_to(looks * setup.baseline_labels, bs.shape)
    lower, upper = difference_cs(cs, cn, bs, bn, setup.alpha)
    enough = (cn >= setup.min_samples) & (bn >= setup.min_samples)
    fails = enough & (upper < -setup.margin)
    passes = enough & (lower > -setup.margin)
    # failureLimit counts failed analyses (not necessarily consecutive), as the engine does.
    fail_at = first_true(np.cumsum(fails, axis=1) >= failure_limit)
    return decide(fail_at, first_true(passes)), lower, upper


def naive(setup: Setup, cand: IntArray, base: IntArray, failure_limit: int) -> Outcome:
    window_c = cand / setup.labels
    window_b = base / setup.baseline_labels
    fails = window_c < window_b - setup.margin
    fail_at = first_true(consecutive(fails, failure_limit))
    pass_at = np.full(setup.runs, setup.naive_promote_after, dtype=np.int64)
    return decide(fail_at, pass_at)


def cross_check(
    setup: Setup,
    cand: IntArray,
    base: IntArray,
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    runs: int,
) -> int:
    """The vectorised verdicts agree with `evaluate()` on the first `runs` runs."""
    check = MetricCheck(
        name="accuracy",
        kind="accuracy",
        max_degradation=setup.margin,
        min_samples=setup.min_samples,
    )
    cs, bs = np.cumsum(cand, axis=1), np.cumsum(base, axis=1)
    looked = 0
    for r in range(min(runs, setup.runs)):
        for t in range(0, setup.horizon, 7):
            cn, bn = (t + 1) * setup.labels, (t + 1) * setup.baseline_labels
            obs = MetricObservation(
                "accuracy",
                Measurement(cs[r, t] / cn, cn, int(cs[r, t])),
                Measurement(bs[r, t] / bn, bn, int(bs[r, t])),
            )
            got = evaluate(check, obs, setup.alpha).verdict
            want = (
                Verdict.FAIL
                if upper[r, t] < -setup.margin
                else Verdict.PASS
                if lower[r, t] > -setup.margin
                else Verdict.INCONCLUSIVE
            )
            if got != want:
                raise AssertionError(f"run {r} look {t + 1}: evaluate() says {got}, sim {want}")
            looked += 1
    return looked


def _median(values: IntArray) -> str:
    return f"{int(np.median(values))}" if values.size else "-"


def row(name: str, method: str, o: Outcome, labels: int) -> str:
    rb, pr = o.at[o.rollback], o.at[o.promote]
    undecided = max(0.0, 1.0 - o.rollback.mean() - o.promote.mean())
    return (
        f"{name:<22} {method:<24} {o.rollback.mean():>8.2%} {o.promote.mean():>8.2%} "
        f"{undecided:>9.2%} {_median(rb):>7} {_median(rb * labels):>9} "
        f"{_median(pr):>7} {_median(pr * labels):>9}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--horizon", type=int, default=200, help="intervals per run")
    ap.add_argument("--labels", type=int, default=200, help="candidate labels per interval")
    ap.add_argument("--weight", type=int, default=10, help="candidate weight, percent")
    ap.add_argument("--baseline", type=float, default=0.90)
    ap.add_argument("--margin", type=float, default=0.01, help="maxDegradation (absolute)")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--min-samples", type=int, default=100)
    ap.add_argument("--naive-promote-after", type=int, default=10)
    args = ap.parse_args()
    setup = Setup(
        runs=args.runs,
        horizon=args.horizon,
        labels=args.labels,
        weight=args.weight,
        baseline=args.baseline,
        margin=args.margin,
        alpha=args.alpha,
        min_samples=args.min_samples,
        naive_promote_after=args.naive_promote_after,
    )
    rng = np.random.default_rng(args.seed)
    scenarios = [
        ("A/A (same accuracy)", 0.0),
        (f"drop at margin ({setup.margin * 100:g}pt)", -setup.margin),
        ("3-point drop", -0.03),
        ("10-point drop", -0.10),
    ]
    print(
        f"{setup.runs} runs per scenario, seed {args.seed}; horizon {setup.horizon} intervals; "
        f"{setup.labels} candidate + {setup.baseline_labels} baseline labels per interval "
        f"(weight {setup.weight}%); baseline accuracy {setup.baseline:.2f}; margin "
        f"(maxDegradation) {setup.margin}; alpha {setup.alpha}; minSamples {setup.min_samples}"
    )
    print(
        f"naive: per-interval window, candidate < baseline - margin fails; promotes after "
        f"{setup.naive_promote_after} intervals without rollback\n"
    )
    header = (
        f"{'scenario':<22} {'method':<24} {'rollback':>8} {'promote':>8} {'undecided':>9} "
        f"{'rb@int':>7} {'rb@n':>9} {'pr@int':>7} {'pr@n':>9}"
    )
    print(header)
    print("-" * len(header))
    started = time.perf_counter()
    checked = 0
    summary: dict[tuple[str, str], Outcome] = {}
    for name, delta in scenarios:
        cand, base = simulate(setup, delta, rng)
        seq1, lower, upper = sequential(setup, cand, base, failure_limit=1)
        seq2, _, _ = sequential(setup, cand, base, failure_limit=2)
        methods = {
            "sequential CS, limit 1": seq1,
            "sequential CS, limit 2": seq2,
            "naive window, limit 2": naive(setup, cand, base, failure_limit=2),
            "naive window, limit 5": naive(setup, cand, base, failure_limit=5),
        }
        for method, outcome in methods.items():
            print(row(name, method, outcome, setup.labels))
            summary[(name, method)] = outcome
        checked += cross_check(setup, cand, base, lower, upper, runs=3)
        print()
    elapsed = time.perf_counter() - started
    aa, drop3, drop10 = scenarios[0][0], scenarios[2][0], scenarios[3][0]
    at_margin = scenarios[1][0]
    seq, nv = "sequential CS, limit 1", "naive window, limit 2"
    print("rb@int / rb@n: median intervals / candidate samples to roll back (rolled-back runs);")
    print("pr@int / pr@n: the same to promote.\n")
    seq_aa, naive_aa = summary[(aa, seq)].rollback.mean(), summary[(aa, nv)].rollback.mean()
    ratio = (
        f"{naive_aa / seq_aa:.0f}x the sequential rate"
        if seq_aa > 0
        else f"sequential: none in {setup.runs} runs"
    )
    print(
        f"A/A false-rollback rate: sequential {seq_aa:.2%} (target <= alpha {setup.alpha:.0%}), "
        f"naive {naive_aa:.2%} ({ratio})"
    )
    print(
        f"false-promotion rate, candidate worse by the margin or more: sequential "
        f"{summary[(at_margin, seq)].promote.mean():.2%} at the margin, "
        f"{summary[(drop3, seq)].promote.mean():.2%} at 3 points; naive "
        f"{summary[(at_margin, nv)].promote.mean():.2%} and {summary[(drop3, nv)].promote.mean():.2%}"
    )
    for label, key in (("3-point", drop3), ("10-point", drop10)):
        s, n = summary[(key, seq)], summary[(key, nv)]
        print(
            f"{label} drop: power sequential {s.rollback.mean():.2%} vs naive "
            f"{n.rollback.mean():.2%}; median intervals to roll back {_median(s.at[s.rollback])} "
            f"vs {_median(n.at[n.rollback])}"
        )
    print(f"\ncross-checked {checked} looks against evaluate(): all agree")
    print(f"simulated {len(scenarios) * setup.runs * setup.horizon:,} looks in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
