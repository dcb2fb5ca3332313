"""The routing table: the contract between the operator and the gateway (docs/contracts.md §2).

The operator writes it as `routing.json` in a ConfigMap in the gateway's namespace; local mode
reads it from a file or `PUT /admin/routing/{model}` (enabled only with an admin token). Field
names on the wire are camelCase, exactly as documented.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class OnnxRuntimeBackend(_Wire):
    """Embedded ONNX Runtime: `<repository>/<model>/<version>/model.onnx`, or fetched from `uri`."""

    kind: Literal["onnxruntime"] = "onnxruntime"
    uri: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @model_validator(mode="after")
    def _uri_needs_hash(self) -> OnnxRuntimeBackend:
        if self.uri is not None and self.sha256 is None:
            raise ValueError("an onnxruntime backend with a 'uri' needs its 'sha256'")
        return self


class TritonBackend(_Wire):
    """Any KServe v2 HTTP server: Triton, or a gateway serving one version."""

    kind: Literal["triton"] = "triton"
    url: str = Field(min_length=1, pattern=r"^https?://")
    model_name: str | None = None
    model_version: str | None = None


Backend = Annotated[OnnxRuntimeBackend | TritonBackend, Field(discriminator="kind")]


class VersionRoute(_Wire):
    version: str = Field(min_length=1)
    weight: int = Field(ge=0, le=100)
    role: Literal["baseline", "candidate"]
    backend: Backend = Field(default_factory=OnnxRuntimeBackend)


class Shadow(_Wire):
    version: str = Field(min_length=1)
    percent: float = Field(ge=0, le=100)


class BinaryCorrectness(_Wire):
    """Output >= threshold is class 1."""

    kind: Literal["binary"] = "binary"
    output: str = "score"
    threshold: float = 0.5


class MulticlassCorrectness(_Wire):
    """The predicted class is the argmax over the last axis."""

    kind: Literal["multiclass"] = "multiclass"
    output: str = "score"


class RegressionCorrectness(_Wire):
    """Correct when |output - label| <= tolerance."""

    kind: Literal["regression"] = "regression"
    output: str = "score"
    tolerance: float = Field(ge=0)


Correctness = Annotated[
    BinaryCorrectness | MulticlassCorrectness | RegressionCorrectness,
    Field(discriminator="kind"),
]


#: The namespace of tables not written for one (routing file, admin API, the repository).
LOCAL_NAMESPACE = "default"


def served_name(namespace: str, model: str) -> str:
    """`<namespace>.<model>`, or `<model>` in the local namespace (namespaces hold no dots)."""
    return model if namespace == LOCAL_NAMESPACE else f"{namespace}.{model}"


class RoutingTable(_Wire):
    # A path segment of the model repository: never '..', never a slash.
    model: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    versions: list[VersionRoute] = Field(min_length=1)
    sticky_by: str | None = None
    shadow: Shadow | None = None
    correctness: Correctness = Field(default_factory=BinaryCorrectness)
    timeout_seconds: float = Field(default=1.0, gt=0)
    generation: int = Field(default=0, ge=0)
    # Off: a NaN or Inf in a floating-point input is answered 400 naming the input.
    allow_non_finite_inputs: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> RoutingTable:
        names = [v.version for v in self.versions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"versions listed more than once: {', '.join(duplicates)}")
        baselines = [v.version for v in self.versions if v.role == "baseline"]
        if len(baselines) != 1:
            raise ValueError(f"exactly one version must be the baseline, found {len(baselines)}")
        total = sum(v.weight for v in self.versions)
        if total != 100:
            raise ValueError(f"weights must sum to 100, they sum to {total}")
        if self.shadow is not None and self.shadow.version not in names:
            raise ValueError(f"shadow version {self.shadow.version!r} is not among the versions")
        return self

    @property
    def baseline(self) -> VersionRoute:
        return next(v for v in self.versions if v.role == "baseline")

    def version(self, name: str) -> VersionRoute | None:
        return next((v for v in self.versions if v.version == name), None)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)
