"""A Triton-style model repository on disk: `<root>/<model>/<version>/model.onnx`."""

from __future__ import annotations

import time
from pathlib import Path

MODEL_FILE = "model.onnx"


class ModelRepository:
    """Listings are cached for `ttl_seconds`: the hot path must not list directories."""

    def __init__(self, root: Path | None, ttl_seconds: float = 2.0) -> None:
        self.root = root
        self.ttl_seconds = ttl_seconds
        self._versions: dict[str, tuple[float, list[str]]] = {}

    def models(self) -> list[str]:
        if self.root is None or not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, model: str) -> list[str]:
        """Numeric version directories holding a model file, lowest first."""
        now = time.monotonic()
        cached = self._versions.get(model)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        found = self._scan(model)
        if found or cached is not None:
            # Unknown names are not cached: a flood of bad model names must not grow memory.
            self._versions[model] = (now, found)
        return found

    def _scan(self, model: str) -> list[str]:
        if self.root is None or "/" in model or model in ("", ".", ".."):
            return []
        directory = self.root / model
        if not directory.is_dir():
            return []
        found = [
            p.name for p in directory.iterdir() if p.name.isdigit() and (p / MODEL_FILE).is_file()
        ]
        return sorted(found, key=int)

    def model_path(self, model: str, version: str) -> Path | None:
        if version not in self.versions(model):
            return None
        assert self.root is not None
        return self.root / model / version / MODEL_FILE
