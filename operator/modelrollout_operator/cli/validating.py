"""`modelrollout validate FILE...`: check resources as the API server and the operator would.

Every ModelVersion and Experiment in the files (multi-document YAML; folders are searched
for *.yaml and *.yml) is checked against the generated openAPIV3Schema with its CEL rules,
unknown fields rejected as `kubectl --validate=strict` does, and against the pydantic
models. Each problem is one line: `FILE: Kind/name: field.path: message`. Documents of
other API groups are skipped. Exit 1 when there is any problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import crdgen
from ..api import validating
from .main import registry


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML file, folder, or '-'")
    parser.add_argument(
        "--old",
        metavar="FILE",
        help="the objects as they are now: also check the update rules (immutable fields)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    checked: int = 0
    skipped: int = 0
    files: int = 0


@registry.command("validate", help="check ModelVersion/Experiment YAML files", arguments=_arguments)
def validate(args: argparse.Namespace) -> int:
    report = Report()
    old_objects: dict[tuple[str, str, str], Any] = {}
    if args.old:
        for source, _, document in _documents(Path(args.old), report):
            if isinstance(document, dict):
                old_objects[_key(document)] = document
            elif document is not None:
                report.lines.append(f"{source}: not a Kubernetes object")
    for path in _expand(args.files, report):
        report.files += 1
        for source, index, document in _documents(path, report):
            try:
                _check(source, index, document, old_objects, report)
            except Exception as exc:  # a checker bug must not hide the other documents
                report.lines.append(
                    f"{source}: {_label(document, index)}: cannot be checked: "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                )
    for line in report.lines:
        # YAML can spell lone surrogates ("\ud800"); they cannot be written out as UTF-8.
        print(line.encode("utf-8", "backslashreplace").decode("utf-8"))
    if not args.quiet:
        print(
            f"{report.checked} resources in {report.files} files: {len(report.lines)} problems"
            + (f" ({report.skipped} documents of other APIs skipped)" if report.skipped else ""),
            file=sys.stderr,
        )
    return 1 if report.lines else 0


def _expand(names: list[str], report: Report) -> Iterator[Path]:
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
            if not found:
                report.lines.append(f"{path}: no *.yaml or *.yml files in this folder")
            yield from found
        elif name == "-" or path.is_file():
            yield path
        else:
            report.lines.append(f"{path}: no such file")


def _documents(path: Path, report: Report) -> Iterator[tuple[str, int, Any]]:
    source = "<stdin>" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if source == "<stdin>" else path.read_text(encoding="utf-8")
        documents = list(yaml.safe_load_all(text))
    except (OSError, UnicodeDecodeError) as exc:
        report.lines.append(f"{source}: cannot read: {exc}")
        return
    except yaml.YAMLError as exc:
        report.lines.append(f"{source}: not valid YAML: {' '.join(str(exc).split())}")
        return
    for index, document in enumerate(documents, start=1):
        yield source, index, document


def _key(document: dict[str, Any]) -> tuple[str, str, str]:
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    return (
        str(document.get("kind")),
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name")),
    )


def _check(
    source: str,
    index: int,
    document: Any,
    old_objects: dict[tuple[str, str, str], Any],
    report: Report,
) -> None:
    if document is None:
        return
    if isinstance(document, dict) and not validating.is_ours(document):
        report.skipped += 1
        return
    report.checked += 1
    kind, problems = validating.identify(document)
    label = _label(document, index)
    if kind is None or problems:
        report.lines.extend(f"{source}: {label}: {p}" for p in problems)
        return
    old = old_objects.get(_key(document))
    schema_side = validating.schema_problems(document, crdgen.openapi_schema(kind), old)
    model_side = validating.model_problems(document, validating.MODELS[kind])
    for problem in validating.merge(schema_side, model_side):
        report.lines.append(f"{source}: {label}: {problem}")


def _label(document: Any, index: int) -> str:
    if not isinstance(document, dict):
        return f"document {index}"
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{document.get('kind', '?')}/{name or f'<document {index}>'}"
