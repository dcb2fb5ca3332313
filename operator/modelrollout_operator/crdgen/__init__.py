"""CustomResourceDefinitions generated from the API models (`modelrollout crds`).

`generate()` maps each CRD's file name to its YAML; `openapi_schema()` gives the schema an
object is validated against, for `modelrollout validate` and the tests.
"""

from __future__ import annotations

from .bounds import unbounded_under_rules
from .rendering import render
from .resources import EXPERIMENT, MODELVERSION, RESOURCES, Column, Resource, crd, resource_for
from .resources import openapi_schema as _openapi_schema
from .schemas import Schema, SchemaError, structural


def openapi_schema(kind: str) -> Schema:
    """The openAPIV3Schema of a kind ("ModelVersion" or "Experiment")."""
    return _openapi_schema(resource_for(kind))


def generate() -> dict[str, str]:
    """File name -> YAML text of every CRD, in a stable order."""
    return {r.filename: render(crd(r)) for r in RESOURCES}


__all__ = [
    "EXPERIMENT",
    "MODELVERSION",
    "RESOURCES",
    "Column",
    "Resource",
    "Schema",
    "SchemaError",
    "crd",
    "generate",
    "openapi_schema",
    "render",
    "resource_for",
    "structural",
    "unbounded_under_rules",
]
