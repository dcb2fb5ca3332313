"""`modelrollout crds`: write, print or check the generated CustomResourceDefinitions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import crdgen
from .main import registry


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir",
        "-o",
        default="crds",
        metavar="DIR",
        help="folder to write one YAML file per CRD into; '-' prints them (default: crds)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every file that differs from a fresh generation",
    )


@registry.command("crds", help="generate the CRDs from the API models", arguments=_arguments)
def crds(args: argparse.Namespace) -> int:
    files = crdgen.generate()
    if args.output_dir == "-":
        if args.check:
            print("modelrollout crds: --check needs a folder, not '-'", file=sys.stderr)
            return 2
        sys.stdout.write("---\n".join(files.values()))
        return 0
    folder = Path(args.output_dir)
    if args.check:
        return _check(folder, files)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


def _check(folder: Path, files: dict[str, str]) -> int:
    stale = 0
    for name, text in files.items():
        path = folder / name
        if not path.is_file():
            print(f"{path}: missing; run `modelrollout crds`", file=sys.stderr)
            stale += 1
        elif path.read_text(encoding="utf-8") != text:
            print(f"{path}: differs from the models; run `modelrollout crds`", file=sys.stderr)
            stale += 1
    return 1 if stale else 0
