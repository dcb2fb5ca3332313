"""Simulate the accuracy decision over seeded synthetic traffic: new CS vs old CS vs naive.

Each run is one candidate rolled out against a baseline. Every analysis interval brings
`--labels` labelled requests to the candidate and, at the candidate's `--weight`, the
matching share to the baseline (e.g. 200 and 1,800 at 10%). Three rules judge the same runs:

* new CS: the engine's accuracy check (`analysis.differences`), an asymptotic confidence
  sequence for candidate - baseline over the cumulative counts, looked at every interval:
  fail (roll back) when it lies below -margin, pass (promote) when above;
* old CS: the previous default, exact per-version sequences joined by a union bound
  (`analysis.sequences.difference_cs`), judged the same way;
* naive: a Flagger-style fixed threshold on each interval's window: fail when the window's
  candidate accuracy < baseline accuracy - margin; roll back after `failureLimit`
  consecutive failures; promote after `--naive-promote-after` intervals without rollback.

Printed per alpha and scenario (A/A, a drop at the margin, a 3-point and a 10-point drop):
how often each rule rolls back, promotes or stays undecided within the horizon, and the
median intervals and candidate samples to roll back or promote; then the headline figures
side by side. Then a guarantee sweep of the new CS (its guarantee is asymptotic, so it is
checked where asymptotics are weakest: few labels an interval, minSamples 20, 10/50/90%
traffic, accuracies 0.7/0.9/0.99, margins 0.01/0.05), counting a run as an error if ANY of
its looks is wrong. Vectorised with numpy: every look of every run is judged at once. A few
runs are cross-checked against `evaluate()` itself.

    python benchmarks/bench_decisions.py [--runs 2000] [--seed 1] [--alpha 0.01 0.05]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from modelrollout_operator.analysis import Measurement, MetricObservation, evaluate
from modelrollout_operator.analysis.differences import excludes
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


#: A rule's view of one look: does the CS lie wholly below -margin, wholly above it?
Sides = tuple[BoolArray, BoolArray]
Rule = Callable[[IntArray, IntArray, IntArray, IntArray, float, float], Sides]


def new_cs(
    cs: IntArray, cn: IntArray, bs: IntArray, bn: IntArray, alpha: float, margin: float
) -> Sides:
    """The engine's default: the asymptotic CS of the difference, tested at -margin."""
    out = excludes(cs, cn, bs, bn, -margin, alpha, margin)
    estimate = cs / cn - bs / bn
    return out & (estimate < -margin), out & (estimate > -margin)


def old_cs(
    cs: IntArray, cn: IntArray, bs: IntArray, bn: IntArray, alpha: float, margin: float
) -> Sides:
    """The previous default: exact per-version CS at alpha/2 each, widths added."""
    lower, upper = difference_cs(cs, cn, bs, bn, alpha)
    return upper < -margin, lower > -margin


RULES: dict[str, Rule] = {"new CS": new_cs, "old CS": old_cs}


def cumulative(setup: Setup, cand: IntArray, base: IntArray) -> tuple[IntArray, ...]:
    looks = np.arange(1, setup.horizon + 1)
    cs, bs = np.cumsum(cand, axis=1), np.cumsum(base, axis=1)
    cn = np.broadcast_to(looks * setup.labels, cs.shape)
    bn = np.broadcast_to(looks * setup.baseline_labels, bs.shape)
    return cs, cn, bs, bn


def sequential(
    setup: Setup, cand: IntArray, base: IntArray, rule: Rule, failure_limits: tuple[int, ...]
) -> tuple[list[Outcome], BoolArray, BoolArray]:
    cs, cn, bs, bn = cumulative(setup, cand, base)
    below, above = rule(cs, cn, bs, bn, setup.alpha, setup.margin)
    enough = (cn >= setup.min_samples) & (bn >= setup.min_samples)
    fails, passes = enough & below, enough & above
    # failureLimit counts failed analyses (not necessarily consecutive), as the engine does.
    outcomes = [
        decide(first_true(np.cumsum(fails, axis=1) >= limit), first_true(passes))
        for limit in failure_limits
    ]
    return outcomes, fails, passes


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
    fails: BoolArray,
    passes: BoolArray,
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
                if fails[r, t]
                else Verdict.PASS
                if passes[r, t]
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
        f"{name:<22} {method:<20} {o.rollback.mean():>8.2%} {o.promote.mean():>8.2%} "
        f"{undecided:>9.2%} {_median(rb):>7} {_median(rb * labels):>9} "
        f"{_median(pr):>7} {_median(pr * labels):>9}"
    )


def comparison(setup: Setup, rng: np.random.Generator, cross_checks: int) -> None:
    """One table: every rule on the same simulated runs, then the headline figures."""
    scenarios = [
        ("A/A (same accuracy)", 0.0),
        (f"drop at margin ({setup.margin * 100:g}pt)", -setup.margin),
        ("3-point drop", -0.03),
        ("10-point drop", -0.10),
    ]
    print(
        f"{setup.runs} runs per scenario; horizon {setup.horizon} intervals; "
        f"{setup.labels} candidate + {setup.baseline_labels} baseline labels per interval "
        f"(weight {setup.weight}%); baseline accuracy {setup.baseline:.2f}; margin "
        f"(maxDegradation) {setup.margin}; alpha {setup.alpha}; minSamples {setup.min_samples}"
    )
    print(
        f"naive: per-interval window, candidate < baseline - margin fails; promotes after "
        f"{setup.naive_promote_after} intervals without rollback\n"
    )
    header = (
        f"{'scenario':<22} {'method':<20} {'rollback':>8} {'promote':>8} {'undecided':>9} "
        f"{'rb@int':>7} {'rb@n':>9} {'pr@int':>7} {'pr@n':>9}"
    )
    print(header)
    print("-" * len(header))
    checked = 0
    summary: dict[tuple[str, str], Outcome] = {}
    for name, delta in scenarios:
        cand, base = simulate(setup, delta, rng)
        methods: dict[str, Outcome] = {}
        for label, rule in RULES.items():
            (one, two), fails, passes = sequential(setup, cand, base, rule, (1, 2))
            methods[f"{label}, limit 1"], methods[f"{label}, limit 2"] = one, two
            if rule is new_cs:
                checked += cross_check(setup, cand, base, fails, passes, cross_checks)
        for limit in (2, 5):
            methods[f"naive, limit {limit}"] = naive(setup, cand, base, limit)
        for method, outcome in methods.items():
            print(row(name, method, outcome, setup.labels))
            summary[(name, method)] = outcome
        print()
    aa, at_margin, drop3, drop10 = (s[0] for s in scenarios)
    print("rb@int / rb@n: median intervals / candidate samples to roll back (rolled-back runs);")
    print("pr@int / pr@n: the same to promote. Headline (failure limit 1 for the CSs):\n")
    rules = {"new CS": "new CS, limit 1", "old CS": "old CS, limit 1", "naive": "naive, limit 2"}

    def line(what: str, figure: Callable[[Outcome], str], key: str) -> None:
        cells = "  ".join(f"{r} {figure(summary[(key, m)]):>13}" for r, m in rules.items())
        print(f"{what:<38} {cells}")

    def rb_speed(o: Outcome) -> str:
        at = o.at[o.rollback]
        return f"{_median(at)} / {_median(at * setup.labels)}"

    def pr_speed(o: Outcome) -> str:
        at = o.at[o.promote]
        return f"{_median(at)} / {_median(at * setup.labels)}"

    line(f"A/A false rollback (<= {setup.alpha:g})", lambda o: f"{o.rollback.mean():.2%}", aa)
    line("A/A promoted", lambda o: f"{o.promote.mean():.2%}", aa)
    line("A/A median intervals / n to promote", pr_speed, aa)
    line(
        f"false promotion at margin (<= {setup.alpha:g})",
        lambda o: f"{o.promote.mean():.2%}",
        at_margin,
    )
    for label, key in (("3-point", drop3), ("10-point", drop10)):
        line(f"{label} drop: power", lambda o: f"{o.rollback.mean():.2%}", key)
        line(f"{label} drop: median intervals / n", rb_speed, key)
    print(f"\ncross-checked {checked} looks of the new CS against evaluate(): all agree")


#: The guarantee sweep: (candidate labels per interval, weight %, baseline accuracy, margin,
#: minSamples). Small early samples, every traffic split, accuracy near 1, wide margins.
GRID: tuple[tuple[int, int, float, float, int], ...] = tuple(
    (labels, weight, baseline, margin, min_samples)
    for labels, min_samples in ((20, 20), (20, 100), (200, 100))
    for weight in (10, 50, 90)
    for baseline in (0.7, 0.9, 0.99)
    for margin in (0.01, 0.05)
)


def guarantee(base_setup: Setup, alphas: tuple[float, ...], rng: np.random.Generator) -> None:
    """Error rates of the new CS over every look of the horizon, without stopping early.

    Stricter than the engine's: a run counts as an error if ANY look is wrong, even one after
    the run would have ended with a correct verdict. A/A: the CS ever lies below -margin (a
    false rollback); at the margin: it ever lies above -margin (a false promotion) or ever
    misses the true difference on either side (the coverage the guarantee is about).
    """
    print(
        f"\nGuarantee sweep, new CS: {base_setup.runs} runs x {base_setup.horizon} looks per "
        f"row, error = wrong at ANY look (no early stop); {len(GRID)} settings per alpha"
    )
    header = (
        f"{'alpha':>6} {'labels':>6} {'weight':>6} {'base':>5} {'margin':>6} {'minS':>5} "
        f"{'A/A rb':>7} {'marg pr':>7} {'marg miss':>9}"
    )
    for alpha in alphas:
        worst: dict[str, tuple[float, str]] = {}
        print(header)
        for labels, weight, baseline, margin, min_samples in GRID:
            setup = replace(
                base_setup,
                labels=labels,
                weight=weight,
                baseline=baseline,
                margin=margin,
                alpha=alpha,
                min_samples=min_samples,
            )
            rates: dict[str, float] = {}
            for scenario, delta in (("aa", 0.0), ("margin", -margin)):
                cs, cn, bs, bn = cumulative(setup, *simulate(setup, delta, rng))
                enough = (cn >= min_samples) & (bn >= min_samples)
                below, above = (enough & side for side in new_cs(cs, cn, bs, bn, alpha, margin))
                if scenario == "aa":
                    rates["A/A rb"] = float(below.any(axis=1).mean())
                else:
                    rates["marg pr"] = float(above.any(axis=1).mean())
                    rates["marg miss"] = float((below | above).any(axis=1).mean())
            where = f"{labels}/{weight}%/{baseline}/{margin}/{min_samples}"
            for k, v in rates.items():
                if v >= worst.get(k, (-1.0, ""))[0]:
                    worst[k] = (v, where)
            print(
                f"{alpha:>6g} {labels:>6} {weight:>5}% {baseline:>5} {margin:>6} "
                f"{min_samples:>5} {rates['A/A rb']:>7.2%} {rates['marg pr']:>7.2%} "
                f"{rates['marg miss']:>9.2%}"
            )
        for k, (v, where) in worst.items():
            flag = "ok" if v <= alpha else "ABOVE ALPHA"
            print(f"  worst {k} at alpha {alpha:g}: {v:.2%} ({where}) {flag}")
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--horizon", type=int, default=200, help="intervals per run")
    ap.add_argument("--labels", type=int, default=200, help="candidate labels per interval")
    ap.add_argument("--weight", type=int, default=10, help="candidate weight, percent")
    ap.add_argument("--baseline", type=float, default=0.90)
    ap.add_argument("--margin", type=float, default=0.01, help="maxDegradation (absolute)")
    ap.add_argument("--alpha", type=float, nargs="+", default=[0.01, 0.05])
    ap.add_argument("--min-samples", type=int, default=100)
    ap.add_argument("--naive-promote-after", type=int, default=10)
    ap.add_argument("--no-sweep", action="store_true", help="skip the guarantee sweep")
    args = ap.parse_args()
    setup = Setup(
        runs=args.runs,
        horizon=args.horizon,
        labels=args.labels,
        weight=args.weight,
        baseline=args.baseline,
        margin=args.margin,
        alpha=args.alpha[0],
        min_samples=args.min_samples,
        naive_promote_after=args.naive_promote_after,
    )
    rng = np.random.default_rng(args.seed)
    print(f"seed {args.seed}\n")
    started = time.perf_counter()
    for alpha in args.alpha:
        comparison(replace(setup, alpha=alpha), rng, cross_checks=3)
        print()
    if not args.no_sweep:
        guarantee(setup, tuple(args.alpha), rng)
    print(f"done in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
