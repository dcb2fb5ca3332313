"""What every backend offers, and the input checks they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from ..errors import BadRequest
from ..tensors import NUMPY_TO_V2, Array, InferenceRequest, TensorSpec


class ModelBackend(Protocol):
    """One version of one model, able to answer inference requests."""

    @property
    def description(self) -> str: ...

    @property
    def inputs(self) -> Sequence[TensorSpec]: ...

    @property
    def outputs(self) -> Sequence[TensorSpec]: ...

    def is_ready(self) -> bool: ...

    async def start(self) -> None:
        """Begin health checks or warm up; called once before the backend takes traffic."""

    async def infer(self, request: InferenceRequest) -> dict[str, Array]:
        """The requested outputs (all of them when none are named), in order.

        Raises BadRequest for input the model cannot take, BackendFailure when it cannot answer.
        """

    async def close(self) -> None: ...


def validate_inputs(specs: Sequence[TensorSpec], request: InferenceRequest) -> None:
    """Names, datatypes and shapes against what the model declares; messages name the input."""
    for spec in specs:
        array = request.inputs.get(spec.name)
        if array is None:
            raise BadRequest(f"input '{spec.name}' is missing")
        datatype = NUMPY_TO_V2.get(array.dtype)
        if datatype != spec.datatype:
            raise BadRequest(
                f"input '{spec.name}' has datatype {datatype}, the model takes {spec.datatype}"
            )
        if not spec.accepts_shape(tuple(array.shape)):
            raise BadRequest(
                f"input '{spec.name}' has shape {list(array.shape)}, the model takes "
                f"{list(spec.shape)} (-1 = any size)"
            )
    declared = {spec.name for spec in specs}
    for name in request.inputs:
        if name not in declared:
            raise BadRequest(
                f"input '{name}' is not an input of this model (inputs: {', '.join(sorted(declared))})"
            )


def select_outputs(specs: Sequence[TensorSpec], request: InferenceRequest) -> list[str]:
    declared = [spec.name for spec in specs]
    if request.outputs is None:
        return declared
    names = [output.name for output in request.outputs]
    for name in names:
        if name not in declared:
            raise BadRequest(
                f"output '{name}' is not an output of this model (outputs: {', '.join(declared)})"
            )
    return names


def nonfinite_input(request: InferenceRequest) -> str | None:
    """The name of the first floating-point input holding NaN or +-Inf, or None."""
    for name, array in request.inputs.items():
        if array.dtype.kind == "f" and array.size and not np.isfinite(array).all():
            return name
    return None


def output_problem(
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    request: InferenceRequest,
    answer: Mapping[str, Array],
) -> tuple[str, str] | None:
    """(fallback reason, message) when an answer is not one the model can give, else None.

    `shape_mismatch`: an output's shape is not the declared one, or its batch dimension differs
    from the request's (a remote server answering [7,3] for one row). `nonfinite_output`: NaN or
    Inf in a floating-point output. Specs may be empty (a remote server without metadata).
    """
    rows = next(
        (
            request.inputs[spec.name].shape[0]
            for spec in inputs
            if spec.shape
            and spec.shape[0] < 0
            and spec.name in request.inputs
            and request.inputs[spec.name].ndim > 0
        ),
        None,
    )
    declared = {spec.name: spec for spec in outputs}
    for name, array in answer.items():
        spec = declared.get(name)
        if spec is not None:
            shape = tuple(array.shape)
            if not spec.accepts_shape(shape):
                return (
                    "shape_mismatch",
                    f"output '{name}' has shape {list(shape)}, the model declares "
                    f"{list(spec.shape)}",
                )
            if rows is not None and spec.shape and spec.shape[0] < 0 and shape[0] != rows:
                return (
                    "shape_mismatch",
                    f"output '{name}' has {shape[0]} rows for a request of {rows}",
                )
        if array.dtype.kind == "f" and array.size and not np.isfinite(array).all():
            return "nonfinite_output", f"output '{name}' holds NaN or Inf"
    return None
