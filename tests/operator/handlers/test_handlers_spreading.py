"""First passes after an operator start are spread over the interval; later ones are not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.handlers.spreading import first_pass_delay, interval_of, phase_of

names = st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)
seconds = st.floats(min_value=0.001, max_value=86_400, allow_nan=False)


@given(names, names, seconds, seconds)
def test_a_start_spreads_first_passes_within_one_interval_and_the_window(
    namespace: str, name: str, interval: float, window: float
) -> None:
    delay = first_pass_delay(namespace, name, interval, uptime=0.0, window=window)
    assert 0.0 <= delay < min(interval, window) or delay == 0.0
    # Stable: another process (a restart) computes the same offset.
    assert delay == first_pass_delay(namespace, name, interval, uptime=0.0, window=window)


@given(names, names, seconds, seconds)
def test_experiments_created_after_the_window_are_served_at_once(
    namespace: str, name: str, interval: float, window: float
) -> None:
    assert first_pass_delay(namespace, name, interval, uptime=window, window=window) == 0.0


def test_no_window_means_no_spreading() -> None:
    assert first_pass_delay("ml", "exp", 10.0, uptime=0.0, window=0.0) == 0.0


def test_a_thousand_experiments_cover_the_interval_evenly() -> None:
    delays = sorted(
        first_pass_delay("default", f"exp-{i}", 10.0, uptime=1.0, window=30.0) for i in range(1000)
    )
    per_second = [sum(1 for d in delays if k <= d < k + 1) for k in range(10)]
    assert min(per_second) > 60 and max(per_second) < 140, per_second


def test_phase_is_a_fraction() -> None:
    assert all(0.0 <= phase_of("ns", f"e{i}") < 1.0 for i in range(100))


def test_interval_of_reads_the_spec_and_falls_back() -> None:
    assert interval_of({"analysis": {"interval": "1m30s"}}) == 90.0
    assert interval_of({"analysis": {"interval": "soon"}}, default=7.0) == 7.0
    assert interval_of({}, default=7.0) == 7.0
    assert interval_of(None, default=7.0) == 7.0
