"""One error hierarchy: every exception class the operator defines derives from
ModelRolloutError, so `modelrollout demo` (and any caller) catches one name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import modelrollout_operator
from modelrollout_operator.errors import ModelRolloutError


def _operator_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(modelrollout_operator.__path__, "modelrollout_operator."):
        if info.name.endswith(".__main__"):
            continue  # runs the command line when imported
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_operator_error_derives_from_the_base() -> None:
    errors = _operator_exceptions()
    assert len(errors) >= 15, sorted(errors)  # the walk found them
    strays = sorted(name for name, cls in errors.items() if not issubclass(cls, ModelRolloutError))
    assert strays == [], "derive these from modelrollout_operator.errors.ModelRolloutError"


def test_refined_errors_keep_the_builtin_they_refine() -> None:
    from modelrollout_operator.local.configuring import ManifestError
    from modelrollout_operator.local.supervising import ProcessFailed

    assert issubclass(ManifestError, ValueError) and issubclass(ProcessFailed, RuntimeError)
