"""The confidence sequences: shape, boundary equation, and time-uniform coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.analysis import bernoulli_cs, difference_cs

counts = st.integers(0, 200_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
alphas = st.sampled_from([0.001, 0.01, 0.05, 0.2])


def _log_m(s: int, n: int, p: float) -> float:
    """log of the beta-binomial mixture martingale at p (Jeffreys prior)."""
    a = b = 0.5
    lbeta = math.lgamma(a + s) + math.lgamma(b + n - s) - math.lgamma(a + b + n)
    lbeta0 = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return lbeta - lbeta0 - s * math.log(p) - (n - s) * math.log1p(-p)


@settings(max_examples=200, deadline=None)
@given(c=counts, alpha=alphas)
def test_interval_contains_the_mean_and_stays_in_the_unit_interval(
    c: tuple[int, int], alpha: float
) -> None:
    s, n = c
    lo, hi = (float(x) for x in bernoulli_cs(s, n, alpha))
    mean = s / n if n else 0.5
    assert 0.0 <= lo <= mean <= hi <= 1.0


@settings(max_examples=200, deadline=None)
@given(c=counts, alpha=alphas)
def test_ends_lie_on_the_boundary_log_m_equals_log_one_over_alpha(
    c: tuple[int, int], alpha: float
) -> None:
    s, n = c
    lo, hi = (float(x) for x in bernoulli_cs(s, n, alpha))
    target = math.log(1 / alpha)
    for end, present in ((lo, s > 0), (hi, s < n)):
        if not present:
            continue
        # Bisection is exact to a few floats; near p = 1 one float moves log M visibly.
        slope = abs(-s / end + (n - s) / (1 - end))
        tolerance = 1e-7 + slope * (4 * float(np.spacing(end)) + 1e-18)
        assert _log_m(s, n, end) == pytest.approx(target, abs=tolerance)


@settings(max_examples=100, deadline=None)
@given(c=counts)
def test_smaller_alpha_gives_a_wider_interval(c: tuple[int, int]) -> None:
    s, n = c
    lo1, hi1 = bernoulli_cs(s, n, 0.05)
    lo2, hi2 = bernoulli_cs(s, n, 0.01)
    assert lo2 <= lo1 and hi1 <= hi2


def test_no_samples_means_no_knowledge() -> None:
    assert [float(x) for x in bernoulli_cs(0, 0, 0.05)] == [0.0, 1.0]
    lo, hi = difference_cs(0, 0, 50, 100, 0.05)
    assert float(lo) <= -0.5 and float(hi) >= 0.5


def test_width_shrinks_like_root_log_n_over_n() -> None:
    widths = []
    for n in (1_000, 10_000, 100_000):
        lo, hi = bernoulli_cs(int(0.9 * n), n, 0.01)
        widths.append(float(hi - lo))
    assert widths[0] > widths[1] > widths[2]
    # Not faster than 1/sqrt(n), and not much slower (the log n of time-uniformity).
    assert 2.6 < widths[0] / widths[1] < 3.2


def test_arrays_match_scalars() -> None:
    s = np.array([0, 5, 90, 100])
    n = np.array([10, 10, 100, 100])
    lo, hi = bernoulli_cs(s, n, 0.05)
    for i in range(4):
        one_lo, one_hi = bernoulli_cs(int(s[i]), int(n[i]), 0.05)
        assert lo[i] == one_lo and hi[i] == one_hi


def test_coverage_holds_at_every_look_at_once() -> None:
    """Seeded: 400 streams of 2,000 Bernoulli(0.9) draws, looked at after each 20."""
    rng = np.random.default_rng(7)
    alpha, p = 0.05, 0.9
    draws = rng.random((400, 2000)) < p
    looks = np.arange(20, 2001, 20)
    s = np.cumsum(draws, axis=1)[:, looks - 1]
    n = np.broadcast_to(looks, s.shape)
    lo, hi = bernoulli_cs(s, n, alpha)
    ever_missed = np.any((lo > p) | (hi < p), axis=1).mean()
    assert ever_missed <= alpha
    # A fixed-sample 95% interval looked at 100 times misses far more often.
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    naive_missed = np.any(np.abs(s / n - p) > half, axis=1).mean()
    assert naive_missed > 2 * alpha


def test_difference_covers_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    alpha = 0.05
    c = np.cumsum(rng.binomial(20, 0.85, (300, 100)), axis=1)
    b = np.cumsum(rng.binomial(180, 0.9, (300, 100)), axis=1)
    looks = np.arange(1, 101)
    lo, hi = difference_cs(c, 20 * looks, b, 180 * looks, alpha)
    missed = np.any((lo > -0.05) | (hi < -0.05), axis=1).mean()
    assert missed <= alpha


@pytest.mark.parametrize(
    ("s", "n", "alpha", "match"),
    [
        (5, 3, 0.05, "successes"),
        (-1, 3, 0.05, "successes"),
        (1, -3, 0.05, "samples"),
        (1, 3, 0.0, "alpha"),
        (1, 3, 1.0, "alpha"),
    ],
)
def test_bad_input_is_named(s: int, n: int, alpha: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bernoulli_cs(s, n, alpha)
