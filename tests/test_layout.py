"""The repository layout: three source roots, none importable under a generic top-level name."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = {
    "operator": "modelrollout_operator",
    "inference": "modelrollout_inference",
    "trainer": "modelrollout_trainer",
}


@pytest.mark.parametrize("folder", sorted(COMPONENTS))
def test_component_folder_is_a_source_root_not_a_package(folder: str) -> None:
    assert not (ROOT / folder / "__init__.py").exists(), f"{folder}/__init__.py must not exist"
    assert (ROOT / folder / COMPONENTS[folder] / "__init__.py").is_file()


def _run_python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # From the repository root by default, as a user or CI would: the cwd is on sys.path.
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_operator_is_the_standard_library_module() -> None:
    proc = _run_python("import operator, sysconfig; print(operator.__file__)")
    assert proc.returncode == 0, proc.stderr
    stdlib = Path(
        _run_python("import sysconfig; print(sysconfig.get_paths()['stdlib'])").stdout.strip()
    )
    assert Path(proc.stdout.strip()).parent == stdlib
    assert hasattr(__import__("operator"), "itemgetter")


@pytest.mark.parametrize("name", ["inference", "trainer"])
def test_generic_names_are_not_importable(name: str, tmp_path: Path) -> None:
    # Installed (editable here), only the modelrollout_* packages are on the path.
    proc = _run_python(f"import {name}", cwd=tmp_path)
    assert proc.returncode != 0, f"'import {name}' must fail, it found {proc.stdout}"
    assert "ModuleNotFoundError" in proc.stderr


@pytest.mark.parametrize("package", sorted(COMPONENTS.values()))
def test_component_packages_import(package: str) -> None:
    proc = _run_python(f"import {package}; print({package}.__file__)")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_wheel_holds_only_the_three_packages(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("model_rollout-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    packages = {t for t in tops if not t.endswith((".dist-info", ".data"))}
    assert packages == set(COMPONENTS.values())


@pytest.mark.slow
def test_wheel_ships_the_demo_examples_so_an_installed_demo_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("model_rollout-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.rsplit("/", 1)[-1] for n in names if "/local/examples/" in n}
    in_checkout = {p.name for p in (ROOT / "examples" / "demo").glob("*.yaml")}
    assert in_checkout and shipped == in_checkout
    # Outside a checkout, the demo finds the packaged copy.
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    found = subprocess.run(
        [sys.executable, "-c",
         "from modelrollout_operator.cli.demo import default_examples; print(default_examples())"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(unpacked)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    examples = Path(found.stdout.strip())
    assert examples.is_relative_to(unpacked), examples
    assert {p.name for p in examples.glob("*.yaml")} == in_checkout
