"""The chart's crds/ holds exactly the generated CRDs of crds/ (plus kopf's peering CRDs)."""

from __future__ import annotations

from chart_helpers import CHART, ROOT

GENERATED = ROOT / "crds"
IN_CHART = CHART / "crds"
# Owned by kopf, not generated from model-rollout's models: the only extra file allowed.
KOPF_PEERING = "kopf-peering.yaml"


def test_generated_crds_exist() -> None:
    files = sorted(p.name for p in GENERATED.glob("*.yaml"))
    assert files, f"{GENERATED} holds no CRDs: generate them with `modelrollout crds`"


def test_chart_crds_are_identical_to_generated_crds() -> None:
    generated = {p.name: p.read_bytes() for p in GENERATED.glob("*.yaml")}
    in_chart = {p.name: p.read_bytes() for p in IN_CHART.glob("*.yaml") if p.name != KOPF_PEERING}
    missing = sorted(set(generated) - set(in_chart))
    stale = sorted(set(in_chart) - set(generated))
    differ = sorted(n for n in set(generated) & set(in_chart) if generated[n] != in_chart[n])
    assert not (missing or stale or differ), (
        f"chart CRDs drifted from crds/: missing {missing}, stale {stale}, different {differ}; "
        "run `make chart-crds`"
    )


def test_chart_has_no_other_files_in_crds() -> None:
    others = [p.name for p in IN_CHART.iterdir() if p.suffix != ".yaml"]
    assert not others, f"unexpected files in {IN_CHART}: {others}"
    assert (IN_CHART / KOPF_PEERING).is_file()
