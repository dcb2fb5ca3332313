"""docs/cluster.md as a newcomer runs it: every command checked against what it names.

What cannot run here (a kind cluster, Docker) is checked against its sources: each `helm
install` line renders with exactly its `--set` flags (values.schema.json refuses unknown keys),
each `make` target exists, each applied file exists, the objects the later commands name are in
those files, and the images the examples and the chart pull are the ones `make kind-load` builds.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from chart_helpers import CHART, ROOT, one, template_args

from conftest import Render

DOC = ROOT / "docs" / "cluster.md"
KIND = ROOT / "examples" / "kind"
Helm = Callable[..., subprocess.CompletedProcess[str]]


def commands() -> list[list[str]]:
    """Every command of the doc's ```sh blocks, continuation lines joined, comments dropped."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                out.append(words)
    return out


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(KIND.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[(doc["kind"].lower(), doc["metadata"]["name"])] = doc
    return found


def _makefile_var(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert match, name
    return match[1].strip()


def test_the_walkthrough_has_commands() -> None:
    tools = {c[0] for c in commands()}
    assert {"kind", "helm", "kubectl", "make", "curl"} <= tools


def test_every_helm_install_renders_with_exactly_its_flags(helm: Helm) -> None:
    installs = [
        c for c in commands() if c[:2] == ["helm", "install"] and "charts/model-rollout" in c
    ]
    assert installs, "the walkthrough installs the chart"
    for words in installs:
        sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
        assert sets, words
        proc = helm(*template_args(tuple(sets), ("monitoring.coreos.com/v1",), "model-rollout"))
        assert proc.returncode == 0, f"{' '.join(words)}\n{proc.stderr}"


def test_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    used = {c[1] for c in commands() if c[0] == "make"}
    assert used and used <= targets, used - targets


def test_applied_files_exist_and_the_objects_named_later_are_in_them() -> None:
    applied = [c[c.index("-f") + 1] for c in commands() if c[:2] == ["kubectl", "apply"]]
    local = [p for p in applied if not p.startswith("http")]
    assert local, "the walkthrough applies the examples"
    for path in local:
        assert (ROOT / path).exists(), path
    assert {(ROOT / p).name for p in local} >= {p.name for p in KIND.glob("*.yaml")}
    objects = _objects()
    short = {"job": "job", "mexp": "experiment", "mv": "modelversion"}
    named = 0
    for words in commands():
        if words[0] != "kubectl":
            continue
        for word in words:
            kind, slash, name = word.partition("/")
            if slash and kind in short:
                assert (short[kind], name) in objects, word
                named += 1
        plain = [w for i, w in enumerate(words) if w != "-n" and (i == 0 or words[i - 1] != "-n")]
        for verb in ("describe", "patch"):
            if verb in plain and plain.index(verb) + 2 < len(plain) + 1:
                kind, *rest = plain[plain.index(verb) + 1 :]
                if kind in short and rest:
                    assert (short[kind], rest[0]) in objects, words
                    named += 1
    assert named >= 2  # the setup Job waited for, the Experiment described


def test_images_are_the_ones_make_kind_load_builds(render: Render) -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    prefix = "model-rollout"
    built = {
        f"{prefix}-operator:{version}",
        f"{prefix}-gateway:{version}",
        f"{prefix}-trainer:{version}",
    }
    assert _makefile_var("OPERATOR_IMAGE") == "$(IMAGE_PREFIX)-operator:$(VERSION)"
    assert _makefile_var("TRAINER_IMAGE") == "$(IMAGE_PREFIX)-trainer:$(VERSION)"
    assert "$(OPERATOR_IMAGE) $(GATEWAY_IMAGE) $(TRAINER_IMAGE)" in _makefile_var("IMAGES")
    text = DOC.read_text()
    for image in built:
        assert image.split(":")[0] in text, image
    # What the kind examples run and what the chart's defaults pull, after `make kind-load`.
    for (kind, name), obj in _objects().items():
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        for container in pod.get("containers", []):
            if container["image"].startswith(prefix):
                assert container["image"] in built, (kind, name, container["image"])
        assert not (spec.get("training") or {}).get("image"), "the kind examples use the chart's"
        assert not (spec.get("serving") or {}).get("gpus"), "kind has no GPUs"
    docs = render(())
    (operator,) = one(docs, "Deployment", "operator")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert env["MODELROLLOUT_TRAINER_IMAGE"] in built
    assert operator["image"] in built
    gateway = one(docs, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["image"] in built


def test_the_namespace_comes_before_a_namespace_scoped_install() -> None:
    text = DOC.read_text()
    assert "rbac.watchNamespaces={ml}" in text
    lines = [" ".join(c) for c in commands()]
    create = next(i for i, c in enumerate(lines) if "examples/kind/00-namespace.yaml" in c)
    assert Path(KIND / "00-namespace.yaml").exists() and create >= 0
    assert "before" in text[text.index("rbac.watchNamespaces={ml}") - 300 :][:600]


def test_trainer_images_named_by_examples_are_built_by_the_makefile() -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert _makefile_var("TRAINER_GPU_IMAGE") == "$(IMAGE_PREFIX)-trainer:$(VERSION)-cuda"
    built = {f"model-rollout-trainer:{version}", f"model-rollout-trainer:{version}-cuda"}
    named = [
        doc["spec"]["training"]["image"]
        for path in sorted((ROOT / "examples").rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "ModelVersion" and "image" in doc["spec"].get("training", {})
    ]
    assert named and set(named) <= built, set(named) - built
