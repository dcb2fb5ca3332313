"""What every backend offers, and the input checks they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
