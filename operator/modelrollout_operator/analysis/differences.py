r"""An asymptotic confidence sequence for the difference of two accuracies, tuned to the margin.

Why not the exact per-arm sequences of `sequences`: their union bound adds the two widths
(and spends alpha/2 on each), where the estimate of the difference has a standard error
that adds them in quadrature. At 10% candidate traffic that alone wastes a third of the
width, and the Jeffreys mixture is tuned for every sample size at once rather than the one
where the decision falls. Measured side by side in `benchmarks/bench_decisions.py`.

The method: Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit
theory and asymptotic confidence sequences", Ann. Statist. 2024 (arXiv:2103.06476), the
Gaussian-mixture asymptotic CS (their Theorem 2.2, with the rho of their eq. (2.6) tuned for
an intended time), applied in *information time* to D = p^_c - p^_b:

* The estimate after any look has variance V = p_c(1-p_c)/n_c + p_b(1-p_b)/n_b, and
  Cov(D_j, D_k) = Var(D_k) for j < k whatever the (predictable) traffic split, so
  I (D - delta) with I = 1/V behaves like a Brownian motion in I (the canonical joint
  distribution of group-sequential tests: Jennison & Turnbull 2000, ch. 11; Scharfstein,
  Tsiatis & Robins 1997). The split may change between looks (10% -> 50%) without harm.
* Robbins' normal mixture over the drift of that Brownian motion, with mixing variance 1/r,
  is a martingale; Ville's inequality gives, for all looks at once with probability
  >= 1 - alpha (exactly for Brownian motion, asymptotically for Bernoulli counts),

      |D - delta| <= sqrt((I + r) (log(1 + I / r) + 2 log(1 / alpha))) / I.

* r is fixed before any data: the radius is smallest around I* = r k with
  k = 2 log(1/alpha) + log(2 log(1/alpha) + 1) (WS et al. eq. (2.6)), and I* is chosen so
  that the radius there equals the margin, where an equally good candidate gets promoted
  and a clearly worse one is long rolled back. It depends on alpha and the spec's
  maxDegradation only, never on the counts.

The variance is not plugged in from the estimates (a Wald test, which reads a run of perfect
answers as certainty near accuracy 1): each hypothesised difference delta is tested with
the variance at the maximum-likelihood accuracies under delta (a score test, as Wilson's
interval; Farrington & Manning 1990 for the restricted estimates), and the CS is the set of
deltas not excluded. A verdict only needs the test at delta = -margin (`excludes`).

The guarantee is asymptotic: the mixture tuned to the margin makes the radius wide at small
I ([-0.66, +0.12] for 90/100 correct against 900/1,000 at alpha 0.01, margin 0.01), so only
gross differences are decisive while the normal approximation is poor; minSamples gates on
top. The benchmark checks the error rates at small and large samples, several traffic
splits, accuracies up to 0.99 and both alpha 0.01 and 0.05.

Pure and vectorised: the counts may be numpy arrays (the benchmark judges every look of
every simulated run at once); the state is the cumulative counts and nothing else, so a
restart that re-reads them agrees.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

BoolArray = npt.NDArray[np.bool_]

_BISECTION_STEPS = 48  # 2**-47 of [-1, 1]: far below any accuracy anyone reads
_TINY_VARIANCE = 1e-300  # zero variance (delta at +-1) means infinite information
#: The smallest half-width the mixture is tuned for: a margin of 0 (strict superiority)
#: would otherwise push the tuning to infinite information.
MIN_TUNING_WIDTH = 0.005


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")


def mixture_offset(alpha: float, width: float) -> float:
    """r, in information units (1 / variance), for a radius tightest where it equals `width`.

    With r = I*/k (WS et al. eq. (2.6)) the radius at I* is sqrt(g / I*) with
    g = (1 + 1/k) (log(1 + k) + 2 log(1/alpha)); solving sqrt(g / I*) = width gives I*.
    """
    _check_alpha(alpha)
    if not width > 0.0:
        raise ValueError(f"the tuning width must be positive, got {width}")
    two_log = 2.0 * math.log(1.0 / alpha)
    k = two_log + math.log(two_log + 1.0)
    g = (1.0 + 1.0 / k) * (math.log1p(k) + two_log)
    return g / width**2 / k


def mixture_radius(information: npt.ArrayLike, alpha: float, offset: float) -> FloatArray:
    """Half-width of the normal-mixture boundary at `information` (inf at zero information)."""
    _check_alpha(alpha)
    if not offset > 0.0:
        raise ValueError(f"the mixture offset must be positive, got {offset}")
    i = np.asarray(information, dtype=np.float64)
    if np.any(i < 0):
        raise ValueError("information must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        # sqrt((I + r)(log(1 + I/r) + 2 log(1/alpha))) / I, arranged not to overflow at huge I.
        r = np.sqrt((1.0 + offset / i) * (np.log1p(i / offset) + 2.0 * math.log(1.0 / alpha)) / i)
    return np.asarray(np.where(i > 0, r, np.inf), dtype=np.float64)


def _check_counts(successes: FloatArray, samples: FloatArray, arm: str) -> None:
    if np.any(samples < 0):
        raise ValueError(f"{arm} samples must be >= 0")
    if np.any(successes < 0) or np.any(successes > samples):
        raise ValueError(f"{arm} successes must lie between 0 and samples")


def restricted_accuracies(
    cs: FloatArray, cn: FloatArray, bs: FloatArray, bn: FloatArray, delta: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """The maximum-likelihood (p_c, p_b) under p_c - p_b = delta (both arms need samples).

    Closed form: the root of the likelihood equation's cubic (Farrington & Manning, Stat.
    Med. 1990; Miettinen & Nurminen 1985).
    """
    d = np.asarray(delta, dtype=np.float64)
    p1, p2, theta = cs / cn, bs / bn, bn / cn
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + d * (theta + 2.0))
    c = d * d + d * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    e = -p1 * d * (1.0 + d)
    v = b**3 / (3.0 * a) ** 3 - b * c / (6.0 * a * a) + e / (2.0 * a)
    u = np.where(v < 0, -1.0, 1.0) * np.sqrt(np.maximum(b * b / (3.0 * a) ** 2 - c / (3.0 * a), 0))
    cube = u**3
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cube != 0, v / cube, 0.0)
    w = (math.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
    candidate = np.clip(
        2.0 * u * np.cos(w) - b / (3.0 * a), np.maximum(d, 0.0), np.minimum(1.0 + d, 1.0)
    )
    return candidate, candidate - d


def _excess(
    cs: FloatArray,
    cn: FloatArray,
    bs: FloatArray,
    bn: FloatArray,
    delta: FloatArray,
    alpha: float,
    offset: float,
) -> FloatArray:
    """|D - delta| minus the radius with the variance taken under delta: > 0 excludes delta.

    The variance under the hypothesis (a score test, as Wilson's interval, rather than a Wald
    test) is what keeps a run of perfect answers from reading as certainty near accuracy 1.
    """
    pc, pb = restricted_accuracies(cs, cn, bs, bn, delta)
    variance = np.maximum(pc * (1.0 - pc) / cn + pb * (1.0 - pb) / bn, _TINY_VARIANCE)
    return np.asarray(
        np.abs(cs / cn - bs / bn - delta) - mixture_radius(1.0 / variance, alpha, offset),
        dtype=np.float64,
    )


def _prepared(
    counts: tuple[npt.ArrayLike, ...], alpha: float, margin: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray, float]:
    _check_alpha(alpha)
    if not margin >= 0.0:
        raise ValueError(f"the margin must be >= 0, got {margin}")
    cs, cn, bs, bn = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in counts))
    _check_counts(cs, cn, "candidate")
    _check_counts(bs, bn, "baseline")
    seen = (cn > 0) & (bn > 0)
    offset = mixture_offset(alpha, max(margin, MIN_TUNING_WIDTH))
    return cs, np.where(seen, cn, 1.0), bs, np.where(seen, bn, 1.0), seen, offset


def excludes(
    candidate_successes: npt.ArrayLike,
    candidate_samples: npt.ArrayLike,
    baseline_successes: npt.ArrayLike,
    baseline_samples: npt.ArrayLike,
    delta: float,
    alpha: float,
    margin: float,
) -> BoolArray:
    """True where `delta` lies outside the CS of `asymptotic_difference_cs`.

    The one test a verdict needs (delta = -margin), without locating the ends.
    """
    cs, cn, bs, bn, seen, offset = _prepared(
        (candidate_successes, candidate_samples, baseline_successes, baseline_samples),
        alpha,
        margin,
    )
    out = _excess(cs, cn, bs, bn, np.full_like(cs, delta), alpha, offset) > 0
    return np.asarray(seen & out, dtype=np.bool_)


def asymptotic_difference_cs(
    candidate_successes: npt.ArrayLike,
    candidate_samples: npt.ArrayLike,
    baseline_successes: npt.ArrayLike,
    baseline_samples: npt.ArrayLike,
    alpha: float,
    margin: float,
) -> tuple[FloatArray, FloatArray]:
    """A (1 - alpha) asymptotic confidence sequence for p_candidate - p_baseline.

    The set of differences delta that the test at delta does not exclude; its ends are found
    by bisection on each side of the estimate. `margin` (the spec's maxDegradation) only
    tunes where the sequence is tightest; any fixed value keeps it valid. An arm without
    samples gives the whole range [-1, 1].
    """
    cs, cn, bs, bn, seen, offset = _prepared(
        (candidate_successes, candidate_samples, baseline_successes, baseline_samples),
        alpha,
        margin,
    )
    estimate = cs / cn - bs / bn
    ends = []
    for edge in (-1.0, 1.0):
        # Inside (excess <= 0) at the estimate; outside at the edge, where the variance is 0.
        inside, outside = estimate.copy(), np.full_like(estimate, edge)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (inside + outside)
            out = _excess(cs, cn, bs, bn, mid, alpha, offset) > 0
            outside = np.where(out, mid, outside)
            inside = np.where(out, inside, mid)
        ends.append(np.where(seen, inside, edge))
    return ends[0], ends[1]
