"""User intent from spec.paused and annotations; status merge patches; CLI patches."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.cli.control import control_patch
from modelrollout_operator.cli.operating import kopf_options
from modelrollout_operator.handlers.intents import ABORT, APPROVE, PROMOTE, consumed, read_intent
from modelrollout_operator.handlers.statuses import status_patch


def test_annotations_become_intent_and_are_removed_once_applied() -> None:
    ann = {APPROVE: "true", ABORT: "false", "other": "x"}
    intent = read_intent(False, ann)
    assert intent.approve and not intent.abort and not intent.promote
    assert consumed(ann) == {APPROVE: None, ABORT: None}
    assert read_intent(True, {PROMOTE: "yes"}).paused


def test_cli_verbs_patch_what_the_operator_reads() -> None:
    assert control_patch("pause") == {"spec": {"paused": True}}
    assert control_patch("resume") == {"spec": {"paused": False}}
    ann = control_patch("promote")["metadata"]["annotations"]
    assert read_intent(False, ann).promote


def test_cli_approval_names_the_step_it_approves() -> None:
    ann = control_patch("approve", current_step=2)["metadata"]["annotations"]
    intent = read_intent(False, ann)
    assert intent.approve_step == 2 and not intent.approve
    # without a known step (not started yet) it is a bare, one-shot approval
    bare = read_intent(False, control_patch("approve")["metadata"]["annotations"])
    assert bare.approve and bare.approve_step is None


def test_operator_flags() -> None:
    import argparse

    args = argparse.Namespace(standalone=False, peering="mr", priority=5, namespace=[])
    assert kopf_options(args) == {"priority": 5, "peering_name": "mr", "clusterwide": True}
    args = argparse.Namespace(standalone=True, peering="mr", priority=0, namespace=["a"])
    assert kopf_options(args) == {"priority": 0, "standalone": True, "namespaces": ["a"]}


values = st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 3) | st.text(max_size=2))


@given(values, values)
def test_status_patch_turns_old_into_new(old: dict, new: dict) -> None:
    patch = status_patch(old, new)
    merged = {k: v for k, v in {**old, **patch}.items() if v is not None}
    assert merged == {k: v for k, v in new.items() if v is not None}
