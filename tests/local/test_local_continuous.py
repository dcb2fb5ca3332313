"""`--scenario continuous`'s pure parts: the packaged Model hangs together with the demo's
versions, the drifted traffic is drawn with the segment shift, and a window's accuracy is
the feedback counters' increase."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from modelrollout_operator.local.configuring import load_manifests
from modelrollout_operator.local.continuous import load_model, window_of
from modelrollout_operator.local.exposition import Snapshot, VersionCounters
from modelrollout_operator.local.recipes import DRIFTED_TRAFFIC_FILE, TRAFFIC_FILE, recipe_for
from modelrollout_operator.rollout.learning import version_name

EXAMPLES = Path(__file__).resolve().parents[2] / "operator/modelrollout_operator/local/examples"


def test_the_packaged_model_adopts_scorer_v1_and_trains_into_the_same_repository() -> None:
    model = load_model(EXAMPLES)
    manifests = load_manifests(EXAMPLES)
    name = str(model.metadata["name"])
    first = manifests.version(version_name(name, 1))
    assert first.spec.model == name and first.spec.version == 1
    assert first.spec.training is not None
    # one model repository: the gateway serves v1 and the versions the loop trains
    assert model.spec.version_template.training.output == first.spec.training.output
    assert model.spec.data.prediction_log is not None
    assert model.spec.triggers.new_labelled_rows is not None


def test_the_drifted_traffic_is_the_clean_traffic_with_a_segment_shift() -> None:
    clean, drifted = recipe_for(Path(TRAFFIC_FILE)), recipe_for(Path(DRIFTED_TRAFFIC_FILE))
    assert clean.shift == 0 and drifted.shift > 0
    assert drifted.rule_seed == clean.rule_seed and drifted.label_noise == 0
    argv = drifted.argv(Path("x.csv"), 0.5)
    assert argv[argv.index("--shift") + 1] == repr(drifted.shift)


counts = st.integers(min_value=0, max_value=10**6)


@given(counts, counts, counts, counts)
def test_a_windows_accuracy_is_the_increase_of_the_feedback_counters(
    feedback: int, correct: int, more: int, more_correct: int
) -> None:
    correct, more_correct = min(correct, feedback), min(more_correct, more)
    earlier = Snapshot({"1": VersionCounters(feedback=feedback, correct=correct)})
    later = Snapshot(
        {"1": VersionCounters(feedback=feedback + more, correct=correct + more_correct)}
    )
    window = window_of("1", earlier, later, 0.0, 15.0)
    assert (window.labels, window.correct) == (more, more_correct)
    assert window.accuracy == (more_correct / more if more else None)
    assert window_of("2", earlier, later, 0.0, 15.0).accuracy is None  # no labels, no figure
