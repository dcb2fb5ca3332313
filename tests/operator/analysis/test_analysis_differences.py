"""The asymptotic CS for candidate - baseline: shape, its test, tuning and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout_operator.analysis import asymptotic_difference_cs, difference_cs
from modelrollout_operator.analysis.differences import (
    excludes,
    mixture_offset,
    mixture_radius,
    restricted_accuracies,
)

arms = st.integers(1, 50_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
alphas = st.sampled_from([0.001, 0.01, 0.05, 0.2])
margins = st.sampled_from([0.0, 0.01, 0.02, 0.05, 0.2])


def _f(x: object) -> float:
    return float(np.asarray(x))


@settings(max_examples=150, deadline=None)
@given(c=arms, b=arms, delta=st.floats(-0.99, 0.99))
def test_restricted_accuracies_maximise_the_likelihood_on_the_constraint(
    c: tuple[int, int], b: tuple[int, int], delta: float
) -> None:
    (cs, cn), (bs, bn) = c, b
    cs_, cn_, bs_, bn_ = (np.asarray(x, dtype=np.float64) for x in (cs, cn, bs, bn))
    pc, pb = (_f(x) for x in restricted_accuracies(cs_, cn_, bs_, bn_, delta))
    assert pc - pb == pytest.approx(delta, abs=1e-9)
    assert 0.0 <= pb <= 1.0 and 0.0 <= pc <= 1.0

    def xlog(k: int, q: np.ndarray) -> np.ndarray:
        """k log q with 0 log 0 = 0, as a likelihood needs."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(k == 0, 0.0, k * np.log(q))

    def loglik(q: np.ndarray) -> np.ndarray:
        terms = xlog(cs, q + delta) + xlog(cn - cs, 1 - (q + delta))
        return np.asarray(terms + xlog(bs, q) + xlog(bn - bs, 1 - q), dtype=np.float64)

    grid = np.linspace(max(0.0, -delta), min(1.0, 1.0 - delta), 20_001)
    best = float(np.max(loglik(grid)))
    got = float(loglik(np.array([pb]))[0])
    # The cubic's root is good to ~1e-8 near a double root: a tiny loss per label is allowed.
    assert got >= best - 1e-7 * (cn + bn) - 1e-6 * abs(best)


@settings(max_examples=100, deadline=None)
@given(c=arms, b=arms, alpha=alphas, margin=margins)
def test_the_sequence_holds_the_estimate_and_stays_in_range(
    c: tuple[int, int], b: tuple[int, int], alpha: float, margin: float
) -> None:
    (cs, cn), (bs, bn) = c, b
    lo, hi = (_f(x) for x in asymptotic_difference_cs(cs, cn, bs, bn, alpha, margin))
    estimate = cs / cn - bs / bn
    assert -1.0 <= lo <= estimate <= hi <= 1.0


@settings(max_examples=100, deadline=None)
@given(c=arms, b=arms, alpha=alphas, margin=margins)
def test_the_test_at_a_difference_agrees_with_the_ends(
    c: tuple[int, int], b: tuple[int, int], alpha: float, margin: float
) -> None:
    """`excludes` (what a verdict uses) and the reported interval tell the same story."""
    (cs, cn), (bs, bn) = c, b
    lo, hi = (_f(x) for x in asymptotic_difference_cs(cs, cn, bs, bn, alpha, margin))
    for end, outward in ((lo, -1.0), (hi, 1.0)):
        for step in (1e-6, 1e-3, 0.05):
            inside = end - outward * step
            outside = end + outward * step
            if lo < inside < hi:
                assert not excludes(cs, cn, bs, bn, inside, alpha, margin)
            if -1.0 < outside < 1.0:
                assert excludes(cs, cn, bs, bn, outside, alpha, margin)


@settings(max_examples=60, deadline=None)
@given(c=arms, b=arms, margin=margins)
def test_smaller_alpha_gives_a_wider_sequence(
    c: tuple[int, int], b: tuple[int, int], margin: float
) -> None:
    (cs, cn), (bs, bn) = c, b
    lo1, hi1 = asymptotic_difference_cs(cs, cn, bs, bn, 0.05, margin)
    lo2, hi2 = asymptotic_difference_cs(cs, cn, bs, bn, 0.01, margin)
    assert lo2 <= lo1 + 1e-12 and hi1 <= hi2 + 1e-12


def test_an_arm_without_samples_means_no_knowledge() -> None:
    assert [_f(x) for x in asymptotic_difference_cs(0, 0, 90, 100, 0.05, 0.02)] == [-1.0, 1.0]
    assert [_f(x) for x in asymptotic_difference_cs(9, 10, 0, 0, 0.05, 0.02)] == [-1.0, 1.0]
    assert not excludes(0, 0, 90, 100, -0.5, 0.05, 0.02)


def test_perfect_answers_early_do_not_read_as_certainty() -> None:
    """The Wald interval's failure: 100/100 has plug-in variance 0; the score test does not."""
    lo, hi = (_f(x) for x in asymptotic_difference_cs(100, 100, 990, 1000, 0.05, 0.01))
    assert lo < -0.05 and hi > 0.0


def test_the_mixture_is_tightest_where_its_radius_equals_the_width() -> None:
    alpha, width = 0.01, 0.02
    r = mixture_offset(alpha, width)
    two_log = 2 * math.log(1 / alpha)
    target = r * (two_log + math.log(two_log + 1))
    assert _f(mixture_radius(target, alpha, r)) == pytest.approx(width, rel=1e-12)
    for other in (r / 2, r / 1.2, r * 1.2, r * 2):
        assert _f(mixture_radius(target, alpha, other)) > width
    assert _f(mixture_radius(0.0, alpha, r)) == math.inf
    assert _f(mixture_radius(1e300, alpha, r)) < 1e-140  # no overflow at huge information


def test_narrower_than_the_per_version_union_bound() -> None:
    """The point of the method: at 10% traffic, widths add in quadrature, not linearly."""
    for n in (2_000, 20_000):
        c, b = int(0.9 * n), int(0.9 * 9 * n)
        new_lo, new_hi = asymptotic_difference_cs(c, n, b, 9 * n, 0.01, 0.01)
        old_lo, old_hi = difference_cs(c, n, b, 9 * n, 0.01)
        assert _f(new_hi - new_lo) < 0.8 * _f(old_hi - old_lo)


@pytest.mark.parametrize(("accuracy", "delta"), [(0.9, -0.02), (0.99, -0.01)])
def test_coverage_holds_at_every_look_while_the_split_changes(
    accuracy: float, delta: float
) -> None:
    """Seeded: 1,000 rollouts, 10% traffic for 20 looks then 50% for 40; any miss counts."""
    rng = np.random.default_rng(5)
    alpha, runs = 0.05, 1000
    cand_per = np.array([20] * 20 + [100] * 40)
    base_per = np.array([180] * 20 + [100] * 40)
    cs = np.cumsum(rng.binomial(cand_per, accuracy + delta, (runs, 60)), axis=1)
    bs = np.cumsum(rng.binomial(base_per, accuracy, (runs, 60)), axis=1)
    cn, bn = np.cumsum(cand_per), np.cumsum(base_per)
    missed = excludes(cs, cn, bs, bn, delta, alpha, margin=-delta).any(axis=1).mean()
    assert missed <= alpha


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 3, 1, 3, 0.05, 0.01), "candidate successes"),
        ((1, 3, -1, 3, 0.05, 0.01), "baseline successes"),
        ((1, -3, 1, 3, 0.05, 0.01), "candidate samples"),
        ((1, 3, 1, 3, 0.0, 0.01), "alpha"),
        ((1, 3, 1, 3, 1.0, 0.01), "alpha"),
        ((1, 3, 1, 3, 0.05, -0.01), "margin"),
        ((1, 3, 1, 3, 0.05, math.nan), "margin"),
    ],
)
def test_bad_input_is_named(args: tuple[float, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        asymptotic_difference_cs(*args)
