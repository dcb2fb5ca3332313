"""Dockerfiles, the Makefile and kind-config.yaml agree with the chart and the package.

No Docker engine runs here, so the images are not built; these checks keep the files honest.
"""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from chart_helpers import CHART, ROOT

DOCKER = ROOT / "docker"
IMAGES = {
    "operator.Dockerfile": ("operator", "modelrollout"),
    "gateway.Dockerfile": ("inference", "modelrollout-gateway"),
    "trainer.Dockerfile": ("trainer", "modelrollout-trainer"),
    "trainer-cuda.Dockerfile": ("trainer", "modelrollout-trainer"),
}


@pytest.mark.parametrize(("name", "expected"), sorted(IMAGES.items()))
def test_dockerfile_installs_its_extra_and_runs_as_non_root(
    name: str, expected: tuple[str, str]
) -> None:
    extra, entrypoint = expected
    text = (DOCKER / name).read_text()
    assert f'pip install ".[{extra}]"' in text
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}, (
        "the final stage must not run as root"
    )
    assert int(users[-1].split(":")[0]) == 10001  # the chart's runAsUser
    assert re.search(rf'^ENTRYPOINT \["{entrypoint}"\]$', text, flags=re.M)
    # only what the build needs, through a per-Dockerfile ignore file
    ignore = (DOCKER / f"{name}.dockerignore").read_text().split()
    assert ignore[0] == "*" or "*" in ignore


def test_entrypoints_are_console_scripts_of_the_package() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"modelrollout-gateway", "modelrollout-trainer"} <= set(scripts)


def test_cpu_trainer_never_pulls_cuda_torch() -> None:
    text = (DOCKER / "trainer.Dockerfile").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu torch==" in text
    pin = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin and f"torch=={pin.group(1)}" in text


def test_makefile_images_match_the_chart_defaults() -> None:
    makefile = (ROOT / "Makefile").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for component in ("operator", "gateway"):
        assert values[component]["image"]["repository"] == f"model-rollout-{component}"
        assert f"$(IMAGE_PREFIX)-{component}:$(VERSION)" in makefile
        assert f"docker/{component}.Dockerfile" in makefile
    assert values["trainer"]["image"]["repository"] == "model-rollout-trainer"
    for target in ("images:", "kind-load:", "chart-crds:"):
        assert re.search(rf"^{target}", makefile, flags=re.M), target


def test_kind_config_maps_gateway_prometheus_and_grafana() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker"]
    ports = {m["hostPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}
    assert ports == {30080, 30090, 30030}
    guide = (ROOT / "docs" / "cluster.md").read_text()
    for port in ports:
        assert str(port) in guide
