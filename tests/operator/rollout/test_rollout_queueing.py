"""Queueing of Experiments on one model (rollout/queueing.py): properties over any set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.api.v1alpha1 import ExperimentPhase
from modelrollout_operator.rollout.queueing import Entry, blocker, entry_of

PHASES = [p.value for p in ExperimentPhase]

entries = st.lists(
    st.builds(
        Entry,
        name=st.sampled_from(["a", "b", "c", "d", "e"]),
        model=st.sampled_from(["churn", "ranker"]),
        phase=st.sampled_from(PHASES),
        created=st.sampled_from(["", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]),
    ),
    max_size=8,
    unique_by=lambda e: e.name,
)


@given(entries)
def test_a_model_never_gets_a_second_active_experiment(experiments: list[Entry]) -> None:
    for model in ("churn", "ranker"):
        mine = [e for e in experiments if e.model == model]
        starting = [e for e in mine if e.pending and blocker(e, experiments) is None]
        if any(e.active for e in mine):
            assert starting == []  # nothing starts beside an active one
        else:
            # exactly one of the waiting ones starts: the queue never stalls
            assert len(starting) == (1 if any(e.pending for e in mine) else 0)


@given(entries)
def test_the_one_waited_for_is_another_experiment_on_the_same_model(
    experiments: list[Entry],
) -> None:
    by_name = {e.name: e for e in experiments}
    for e in experiments:
        ahead = blocker(e, experiments)
        if ahead is not None:
            assert ahead != e.name and by_name[ahead].model == e.model
            assert by_name[ahead].active or by_name[ahead].pending
        if not e.pending:
            assert ahead is None  # started ones never go back to waiting


def test_finished_experiments_hold_nothing() -> None:
    done = Entry("old", "churn", "Succeeded", "2026-01-01T00:00:00Z")
    new = Entry("new", "churn", "Pending", "2026-01-02T00:00:00Z")
    assert blocker(new, [done, new]) is None


def test_entries_read_from_api_objects() -> None:
    body = {"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"model": "churn"}}  # fmt: skip
    assert entry_of(body) == Entry("x", "churn", "Pending", "2026-01-01T00:00:00Z")
    assert entry_of({"metadata": {"name": "y"}, "spec": {}}) is None
