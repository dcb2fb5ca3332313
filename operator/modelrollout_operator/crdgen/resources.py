"""The custom resources: names, printer columns and their CustomResourceDefinitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..api.v1alpha1 import GROUP, VERSION, Experiment, Model, ModelVersion
from .schemas import Schema, structural


@dataclass(frozen=True)
class Column:
    """One `kubectl get` column."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Resource:
    """A custom resource kind served by this operator."""

    model: type[BaseModel]
    kind: str
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def filename(self) -> str:
        return f"{self.crd_name}.yaml"


_AGE = Column("Age", "date", ".metadata.creationTimestamp", "Time since creation.")
_PHASE = Column("Phase", "string", ".status.phase", "Where it is in its lifecycle.")

MODELVERSION = Resource(
    model=ModelVersion,
    kind="ModelVersion",
    plural="modelversions",
    short_names=("mv",),
    description="One immutable version of one model: a prebuilt artifact or a training run, "
    "and how to serve it.",
    columns=(
        Column("Model", "string", ".spec.model", "The model this is a version of."),
        Column("Version", "integer", ".spec.version", "Version number."),
        Column("Runtime", "string", ".spec.serving.runtime", "Serving runtime."),
        _PHASE,
        Column(
            "Accuracy", "number", ".status.metrics.test.accuracy", "Accuracy on the test split."
        ),
        _AGE,
    ),
)

EXPERIMENT = Resource(
    model=Experiment,
    kind="Experiment",
    plural="experiments",
    # `mexp`: `exp` is Argo Rollouts' (experiments.argoproj.io) on clusters that run both.
    short_names=("mexp",),
    description="Rolls a candidate ModelVersion out against a baseline, step by step, and rolls "
    "it back when the analysis says it is worse.",
    columns=(
        Column("Model", "string", ".spec.model", "The model whose traffic is shifted."),
        Column("Baseline", "string", ".spec.baseline", "The ModelVersion serving today."),
        Column("Candidate", "string", ".spec.candidate", "The ModelVersion rolled out."),
        Column("Strategy", "string", ".spec.strategy.type", "canary, abTest or shadow."),
        _PHASE,
        Column("Step", "integer", ".status.currentStep", "Step being baked (1-based)."),
        Column("Weight", "integer", ".status.weight", "Candidate's share of traffic (%)."),
        Column(
            "Undo-Until",
            "string",
            ".status.holdback.endsAt",
            "Until then `modelrollout undo` restores the previous version (holdback window or "
            "scale-down delay).",
            priority=1,
        ),
        _AGE,
        Column("Message", "string", ".status.message", "What is happening and why.", priority=1),
    ),
)

MODEL = Resource(
    model=Model,
    kind="Model",
    plural="models",
    # `mdl`: free in Argo Rollouts, KServe and Seldon (`model` alone would be the singular).
    short_names=("mdl",),
    description="A model as a whole: the line of its ModelVersions, retrained from its own "
    "feedback on a trigger and rolled out version after version.",
    columns=(
        Column("In-Service", "integer", ".status.inServiceVersion", "The version serving now."),
        _PHASE,
        Column(
            "Last-Trigger", "string", ".status.lastTrigger.reason", "Why the last training began."
        ),
        Column(
            "Next-Trigger", "string", ".status.nextTrigger.reason", "What comes next.", priority=1
        ),
        _AGE,
        Column("Message", "string", ".status.message", "What is happening and why.", priority=1),
    ),
)

RESOURCES: tuple[Resource, ...] = (MODELVERSION, EXPERIMENT, MODEL)


def resource_for(kind: str) -> Resource:
    """The resource of a kind ("ModelVersion", "Experiment")."""
    for resource in RESOURCES:
        if resource.kind == kind:
            return resource
    known = ", ".join(r.kind for r in RESOURCES)
    raise KeyError(f"unknown kind {kind!r} (known: {known})")


def openapi_schema(resource: Resource) -> Schema:
    """The resource's openAPIV3Schema, as the API server validates objects against it."""
    # Kubernetes owns apiVersion, kind and metadata: they get its standard, loose schema.
    body = structural(resource.model, omit=frozenset({"apiVersion", "kind", "metadata"}))
    properties = body["properties"]
    properties["apiVersion"] = {
        "description": "Versioned schema of this representation: " + f"{GROUP}/{VERSION}.",
        "type": "string",
    }
    properties["kind"] = {"description": "REST resource this object represents.", "type": "string"}
    properties["metadata"] = {"type": "object"}
    out: Schema = {"description": resource.description, "type": "object"}
    out["properties"] = dict(sorted(properties.items()))
    out["required"] = ["spec"]
    return out


def crd(resource: Resource) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of a resource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "model-rollout"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "shortNames": list(resource.short_names),
                "categories": ["modelrollout"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_crd() for c in resource.columns],
                    "schema": {"openAPIV3Schema": openapi_schema(resource)},
                }
            ],
        },
    }
