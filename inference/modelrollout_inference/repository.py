"""A Triton-style model repository on disk: `<root>/<model>/<version>/model.onnx`."""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.onnx"


class ModelRepository:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    def models(self) -> list[str]:
        if self.root is None or not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, model: str) -> list[str]:
        """Numeric version directories holding a model file, lowest first."""
        if self.root is None or "/" in model or model in ("", ".", ".."):
            return []
        directory = self.root / model
        if not directory.is_dir():
            return []
        found = [
            p.name for p in directory.iterdir()
            if p.name.isdigit() and (p / MODEL_FILE).is_file()
        ]
        return sorted(found, key=int)

    def model_path(self, model: str, version: str) -> Path | None:
        if version not in self.versions(model):
            return None
        assert self.root is not None
        return self.root / model / version / MODEL_FILE
