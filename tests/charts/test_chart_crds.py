"""The chart installs and upgrades the CRDs as templates: exactly the generated crds/ (plus kopf's
peering CRDs), gated by crds.install and kept on uninstall by crds.keep."""

from __future__ import annotations

from typing import Any

import yaml
from chart_helpers import CHART, ROOT, of_kind

from conftest import Render

GENERATED = ROOT / "crds"
IN_CHART = CHART / "files" / "crds"
# Owned by kopf, not generated from model-rollout's models: the only extra file allowed.
KOPF_PEERING = "kopf-peering.yaml"
KEEP = "helm.sh/resource-policy"


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


def test_chart_has_no_other_files_in_its_crds_and_no_crds_folder() -> None:
    others = [p.name for p in IN_CHART.iterdir() if p.suffix != ".yaml"]
    assert not others, f"unexpected files in {IN_CHART}: {others}"
    assert (IN_CHART / KOPF_PEERING).is_file()
    # helm installs a crds/ folder once and never upgrades it: the templates do instead.
    assert not (CHART / "crds").exists()


def _files() -> dict[str, dict[str, Any]]:
    out = {}
    for path in IN_CHART.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out[doc["metadata"]["name"]] = doc
    return out


def _bare(crd: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in crd["metadata"].items() if k not in ("labels", "annotations")}
    return {**crd, "metadata": meta}


def test_the_templates_render_every_crd_unchanged_labelled_and_kept(render: Render) -> None:
    rendered = {c["metadata"]["name"]: c for c in of_kind(render(()), "CustomResourceDefinition")}
    files = _files()
    assert set(rendered) == set(files)
    assert {"experiments.modelrollout.dev", "modelversions.modelrollout.dev",
            "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"} <= set(rendered)  # fmt: skip
    for name, crd in rendered.items():
        assert _bare(crd) == _bare(files[name]), name
        assert crd["metadata"]["annotations"][KEEP] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "model-rollout"


def test_crds_install_false_renders_none_and_keep_false_drops_the_policy(render: Render) -> None:
    assert of_kind(render(("crds.install=false",)), "CustomResourceDefinition") == []
    for crd in of_kind(render(("crds.keep=false",)), "CustomResourceDefinition"):
        assert KEEP not in (crd["metadata"].get("annotations") or {})


def test_users_get_modelrollout_objects_through_the_default_roles(render: Render) -> None:
    by_role = {
        name: r
        for r in of_kind(render(()), "ClusterRole")
        for name in ("view", "edit", "admin")
        if r["metadata"]["labels"].get(f"rbac.authorization.k8s.io/aggregate-to-{name}") == "true"
    }
    assert set(by_role) == {"view", "edit", "admin"}
    for name, role in by_role.items():
        (objects, statuses) = role["rules"]
        assert {"modelversions", "experiments"} <= set(objects["resources"])
        writes = {"create", "update", "patch", "delete"} & set(objects["verbs"])
        assert bool(writes) == (name != "view"), name
        assert set(statuses["verbs"]) == {"get", "list", "watch"}  # status is the operator's
    assert not any(
        r["metadata"]["name"].endswith("-view")
        for r in of_kind(render(("rbac.aggregateUserRoles=false",)), "ClusterRole")
    )
