"""`modelrollout crds`, `modelrollout validate` and the dispatch to the other components."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

from modelrollout_operator import crdgen
from modelrollout_operator.cli import Registry, dispatching, main

ROOT = Path(__file__).resolve().parents[3]
CANARY = ROOT / "examples" / "experiment-canary.yaml"
TRAINED = ROOT / "examples" / "modelversion-trained.yaml"


# --- crds ----------------------------------------------------------------------------------


def test_crds_writes_files_then_check_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crds", "--output-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(crdgen.generate())
    capsys.readouterr()
    assert main(["crds", "--output-dir", str(tmp_path), "--check"]) == 0
    assert main(["crds", "--output-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "", "an unchanged file is not rewritten"


def test_crds_check_names_the_drifted_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["crds", "-o", str(tmp_path)])
    (tmp_path / "experiments.modelrollout.dev.yaml").write_text("# edited by hand\n")
    (tmp_path / "modelversions.modelrollout.dev.yaml").unlink()
    assert main(["crds", "-o", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "experiments.modelrollout.dev.yaml: differs from the models" in err
    assert "modelversions.modelrollout.dev.yaml: missing" in err


def test_crds_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out == "---\n".join(crdgen.generate().values())
    assert main(["crds", "-o", "-", "--check"]) == 2


def test_console_script_regenerates_the_repository_crds_identically(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("modelrollout")
    if not script.exists():
        pytest.skip("the modelrollout console script is not installed in this environment")
    proc = subprocess.run(
        [str(script), "crds", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


# --- validate ------------------------------------------------------------------------------


def test_validate_examples_folder_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "examples")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 problems" in captured.err


def test_validate_prints_every_problem_with_file_kind_name_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    canary = CANARY.read_text().replace("weight: 25", "weight: 150")
    canary = canary.replace("bake: 10m", "bake: 10 min", 1)
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    trained = TRAINED.read_text().replace("      gpus: 1\n", "      gpus: 1\n      tpu: 2\n")
    bad.write_text("---\n".join([canary, config_map, trained]))
    assert main(["validate", str(bad)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    prefix = f"{bad}: Experiment/churn-v3-canary: "
    assert f"{prefix}spec.strategy.canary.steps[0].bake: '10 min' does not match" in "\n".join(
        lines
    )
    assert any(
        line.startswith(f"{prefix}spec.strategy.canary.steps[1].weight: 150") for line in lines
    )
    assert (
        f"{prefix}spec.strategy.canary: canary.steps weights must rise strictly from step to step"
        in lines
    )
    assert f"{bad}: ModelVersion/churn-v3: spec.training.resources.tpu: unknown field" in lines
    assert "1 documents of other APIs skipped" in captured.err


def test_validate_reports_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("apiVersion: modelrollout.dev/v1\nkind: Experiment\nmetadata: {name: x}\n")
    missing = tmp_path / "nope.yaml"
    assert main(["validate", "-q", str(broken), str(missing), str(wrong)]) == 1
    out = capsys.readouterr().out
    assert f"{broken}: not valid YAML" in out
    assert f"{missing}: no such file" in out
    assert f"{wrong}: Experiment/x: apiVersion: must be modelrollout.dev/v1alpha1" in out


def test_validate_old_objects_enable_the_update_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(TRAINED.read_text().replace("version: 3", "version: 4"))
    assert main(["validate", "-q", str(new)]) == 0
    assert main(["validate", "-q", "--old", str(TRAINED), str(new)]) == 1
    assert "spec: spec.model and spec.version are immutable" in capsys.readouterr().out


def test_validate_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(read=lambda: CANARY.read_text()))
    assert main(["validate", "-"]) == 0
    assert "1 resources in 1 files" in capsys.readouterr().err


def test_validate_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    assert "FILE" in capsys.readouterr().err


# --- dispatch ------------------------------------------------------------------------------


def test_train_and_data_hand_over_to_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("modelrollout_trainer.cli")
    fake.main = lambda argv: calls.append(list(argv)) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modelrollout_trainer.cli", fake)
    assert main(["train", "--dataset", "d.csv", "--model", "m"]) == 3
    assert main(["data", "synth", "--rows", "10"]) == 3
    assert main(["data", "build", "--log", "x"]) == 3
    assert calls == [
        ["train", "--dataset", "d.csv", "--model", "m"],
        ["synth", "--rows", "10"],
        ["build-dataset", "--log", "x"],
    ]
    assert main(["data", "shuffle"]) == 2


def test_gateway_hands_over_and_maps_system_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_main(argv: list[str]) -> int:
        raise SystemExit(0 if argv == ["--help"] else 2)

    fake = types.ModuleType("modelrollout_inference.cli")
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modelrollout_inference.cli", fake)
    assert main(["gateway", "--help"]) == 0
    assert main(["gateway", "--bogus"]) == 2


def test_a_missing_component_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "modelrollout_trainer.cli", None)  # import fails
    assert main(["train", "--help"]) == 1
    err = capsys.readouterr().err
    assert "cannot load modelrollout_trainer.cli" in err
    assert "pip install 'model-rollout[trainer]'" in err
    assert dispatching.DATA_VERBS["build"] == "build-dataset"


# --- the registry --------------------------------------------------------------------------


def test_registry_builds_subcommands_and_refuses_duplicates() -> None:
    registry = Registry()
    seen: list[str] = []

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")

    @registry.command("hello", help="say hello", arguments=arguments)
    def hello(args: argparse.Namespace) -> int:
        seen.append(args.name)
        return 0

    args = registry.parser().parse_args(["hello", "world"])
    assert args.command == "hello"
    hello(args)
    assert seen == ["world"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.command("hello", help="again")(hello)


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "crds" in capsys.readouterr().err
    assert main(["--help"]) == 0
