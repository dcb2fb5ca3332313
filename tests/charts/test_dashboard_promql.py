"""Property tests of the pure PromQL builders behind the dashboards."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rollout_dashboards.promql import (
    Z_95,
    expand_variables,
    quantile,
    selector,
    variables_in,
    wilson_bound,
)

names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_characters="$[]{}\\"), max_size=20)


def _evaluate(promql: str, correct: float, total: float) -> float:
    """Evaluate the arithmetic of wilson_bound() on scalars: the same text Prometheus runs."""
    expr = promql.replace("CORRECT", repr(correct)).replace("TOTAL", repr(total)).replace("^", "**")
    assert re.fullmatch(r"[0-9.e+\-*/() sqrt]+", expr), expr
    return float(eval(expr, {"__builtins__": {}}, {"sqrt": math.sqrt}))


@given(total=st.integers(min_value=1, max_value=10**7), data=st.data())
def test_wilson_bounds_bracket_the_observed_accuracy(total: int, data: st.DataObject) -> None:
    correct = data.draw(st.integers(min_value=0, max_value=total))
    lower = _evaluate(wilson_bound("CORRECT", "TOTAL", upper=False), correct, total)
    upper = _evaluate(wilson_bound("CORRECT", "TOTAL", upper=True), correct, total)
    p = correct / total
    assert -1e-12 <= lower <= p + 1e-12
    assert p - 1e-12 <= upper <= 1 + 1e-12


@given(correct_share=st.floats(min_value=0.05, max_value=0.95), small=st.integers(10, 1000))
def test_wilson_interval_narrows_with_more_samples(correct_share: float, small: int) -> None:
    def width(total: int) -> float:
        correct = round(correct_share * total)
        return _evaluate(wilson_bound("CORRECT", "TOTAL", upper=True), correct, total) - _evaluate(
            wilson_bound("CORRECT", "TOTAL", upper=False), correct, total
        )

    assert width(small * 100) < width(small)


def test_wilson_matches_a_known_value() -> None:
    # 81 of 263 correct: Wilson 95% interval (0.2553, 0.3662), as published for this example.
    lower = _evaluate(wilson_bound("CORRECT", "TOTAL", upper=False), 81, 263)
    upper = _evaluate(wilson_bound("CORRECT", "TOTAL", upper=True), 81, 263)
    assert lower == pytest.approx(0.2553, abs=5e-4)
    assert upper == pytest.approx(0.3662, abs=5e-4)
    assert pytest.approx(1.959964, abs=1e-6) == Z_95


def test_wilson_rejects_a_non_positive_z() -> None:
    with pytest.raises(ValueError, match="z must be positive"):
        wilson_bound("c", "n", upper=True, z=0)


@given(st.dictionaries(names, values, max_size=5))
def test_expand_variables_replaces_every_form(mapping: dict[str, str]) -> None:
    for name, value in mapping.items():
        for form in (f"${name}", f"${{{name}}}", f"[[{name}]]", f"${{{name}:regex}}"):
            assert expand_variables(f'x{{a=~"{form}"}}', mapping) == f'x{{a=~"{value}"}}'


@given(st.dictionaries(names, values, min_size=1, max_size=5))
def test_variables_in_finds_what_expand_needs(mapping: dict[str, str]) -> None:
    expr = " + ".join(f'm{{l=~"${name}"}}' for name in mapping)
    assert variables_in(expr) == set(mapping)
    expanded = expand_variables(expr, mapping)
    assert "$" not in expanded or any("$" in v for v in mapping.values())


def test_expand_variables_names_a_missing_variable() -> None:
    with pytest.raises(ValueError, match="no value for dashboard variable 'model'"):
        expand_variables('up{model=~"$model"}', {"namespace": ".*"})


@given(
    metric=names,
    matchers=st.dictionaries(names, st.from_regex(r"[a-z0-9.*$]{1,8}", fullmatch=True), max_size=3),
)
def test_selector_keeps_every_matcher(metric: str, matchers: dict[str, str]) -> None:
    text = selector(metric, **matchers)
    assert text.startswith(metric)
    for label, value in matchers.items():
        assert f'{label}=~"{value}"' in text
    assert (text == metric) == (not matchers)


@given(st.floats(min_value=0.0, max_value=1.0))
def test_quantile_rejects_out_of_range(q: float) -> None:
    if 0.0 < q < 1.0:
        assert quantile(q, "h", "version", {}).startswith(
            f"histogram_quantile({q}, sum by (version, le)"
        )
    else:
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            quantile(q, "h", "version", {})
