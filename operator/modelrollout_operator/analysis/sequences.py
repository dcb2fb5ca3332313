r"""Always-valid confidence sequences for Bernoulli means and their difference.

Why a confidence *sequence*: the engine looks at the cumulative accuracy counts every
analysis interval and acts on the first look that is decisive. A fixed-sample confidence
interval checked at every look inflates the error rate without bound (the "peeking"
problem); a confidence sequence (CS) holds at all times at once:
P(exists t: p not in CS_t) <= alpha.

One arm: Robbins' conjugate mixture (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021,
section 3 / the beta-binomial mixture). For S successes in n Bernoulli(p0) trials,

    M_n(p0) = B(a + S, b + n - S) / B(a, b) / (p0^S (1 - p0)^(n - S))

is the likelihood ratio of a Beta(a, b) mixture against p0: a nonnegative martingale with
mean 1 under p0. Ville's inequality gives P(exists n: M_n(p0) >= 1/alpha) <= alpha, so

    CS_n = {p0 : M_n(p0) < 1/alpha}

is a (1 - alpha) confidence sequence. `log M_n` is convex in p0 with its minimum at the
sample mean (where M_n <= 1), so CS_n is an interval; its ends are found by bisection.
Width ~ sqrt(p(1-p) (2 log(1/alpha) + log n) / n): it adapts to the variance (tight near
0.9 accuracy) and depends on the counts only, so a restart that re-reads them agrees.
Jeffreys' Beta(1/2, 1/2) mixes over p.

Difference of two arms (candidate - baseline) with any, data-dependent, traffic split:
a union bound over one CS per arm at alpha/2 each,

    [L_c - U_b, U_c - L_b]  holds for all n at once with probability >= 1 - alpha.

It is conservative (the widths add rather than add in quadrature) but exact in finite
samples, needs no pairing of observations and no variance estimate. The engine's verdicts
on the difference use the tighter asymptotic sequence of `differences` instead; this one
stays as the exact reference (and in the benchmark, side by side).

Everything here accepts numpy arrays (the simulation benchmark evaluates a million looks at
once) and plain numbers.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Jeffreys' prior: the mixing distribution over p.
PRIOR_A = 0.5
PRIOR_B = 0.5

_BISECTION_STEPS = 60  # 2**-60 of the unit interval: below float resolution
_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma_array(x: FloatArray) -> FloatArray:
    return np.asarray(_lgamma(x), dtype=np.float64)


def _check_counts(successes: FloatArray, samples: FloatArray) -> None:
    if np.any(samples < 0):
        raise ValueError("samples must be >= 0")
    if np.any(successes < 0) or np.any(successes > samples):
        raise ValueError("successes must lie between 0 and samples")


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")


def bernoulli_cs(
    successes: npt.ArrayLike,
    samples: npt.ArrayLike,
    alpha: float,
    prior: tuple[float, float] = (PRIOR_A, PRIOR_B),
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper ends of the (1 - alpha) beta-binomial mixture confidence sequence.

    With no samples the sequence is the whole unit interval.
    """
    _check_alpha(alpha)
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(samples, dtype=np.float64)
    s, n = np.broadcast_arrays(s, n)
    _check_counts(s, n)
    a, b = prior
    f = n - s
    # log M_n(p0) = log_mix - S log p0 - F log(1 - p0); the boundary is log M_n = log(1/alpha).
    log_mix = (
        _lgamma_array(a + s)
        + _lgamma_array(b + f)
        - _lgamma_array(a + b + n)
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )
    excess = log_mix + math.log(alpha)  # < 0 at the sample mean, so the root brackets hold
    mean = np.divide(s, n, out=np.full_like(s, 0.5), where=n > 0)

    def g(p: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(excess - s * np.log(p) - f * np.log1p(-p), dtype=np.float64)

    # Lower end: g falls from +inf (when S > 0) at 0 to < 0 at the mean.
    lo, hi = np.zeros_like(mean), mean.copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = g(mid) > 0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    lower = np.where(s > 0, hi, 0.0)
    # Upper end: g rises from < 0 at the mean to +inf (when F > 0) at 1.
    lo, hi = mean.copy(), np.ones_like(mean)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = g(mid) > 0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    upper = np.where(f > 0, lo, 1.0)
    lower = np.where(n > 0, lower, 0.0)
    upper = np.where(n > 0, upper, 1.0)
    return lower, upper


def difference_cs(
    candidate_successes: npt.ArrayLike,
    candidate_samples: npt.ArrayLike,
    baseline_successes: npt.ArrayLike,
    baseline_samples: npt.ArrayLike,
    alpha: float,
) -> tuple[FloatArray, FloatArray]:
    """A (1 - alpha) confidence sequence for p_candidate - p_baseline (union bound)."""
    _check_alpha(alpha)
    c_lo, c_hi = bernoulli_cs(candidate_successes, candidate_samples, alpha / 2)
    b_lo, b_hi = bernoulli_cs(baseline_successes, baseline_samples, alpha / 2)
    return c_lo - b_hi, c_hi - b_lo
