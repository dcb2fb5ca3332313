"""The YAML under examples/, links followed: examples/demo links to the demo's YAML that
ships inside the package (pathlib's rglob does not follow links to folders)."""

from __future__ import annotations

import os
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_files(root: Path = EXAMPLES) -> list[Path]:
    """Every *.yaml below `root`, sorted, including those behind folder links."""
    return sorted(
        Path(folder) / name
        for folder, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.endswith(".yaml")
    )
