"""Evaluate a schema's `x-kubernetes-validations` rules the way the API server does.

Each rule runs with `self` bound to the object at its schema node. Rules that mention
`oldSelf` are transition rules: they run only on update (when an old object is given),
against the correlated old value, as Kubernetes does. Values are typed from the schema
(`number` -> double even when written `1`), because CEL does not compare int with double.

cel-python lacks the Kubernetes CEL libraries; the list functions the rules may use
(`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`) are provided here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

Schema = dict[str, Any]

_OLD_SELF = re.compile(r"\boldSelf\b")


@dataclass(frozen=True)
class RuleViolation:
    """A rule that did not hold (or could not be evaluated) at `path`."""

    path: str
    rule: str
    message: str
    evaluation_error: bool = False


def is_transition_rule(rule: str) -> bool:
    """Whether the rule compares with the old object (and so runs only on update)."""
    return bool(_OLD_SELF.search(rule))


# --- the Kubernetes CEL lists library -----------------------------------------------------


def _items(value: Any, function: str) -> list[Any]:
    if not isinstance(value, celtypes.ListType):
        raise CELEvalError(f"{function}() needs a list, got {type(value).__name__}")
    return list(value)


def _is_sorted(value: Any) -> celtypes.BoolType:
    items = _items(value, "isSorted")
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(items)))


def _sum(value: Any) -> Any:
    items = _items(value, "sum")
    if not items:
        return celtypes.IntType(0)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


def _min(value: Any) -> Any:
    items = _items(value, "min")
    if not items:
        raise CELEvalError("min() of an empty list")
    return min(items)


def _max(value: Any) -> Any:
    items = _items(value, "max")
    if not items:
        raise CELEvalError("max() of an empty list")
    return max(items)


def _index_of(value: Any, element: Any) -> celtypes.IntType:
    if isinstance(value, celtypes.StringType):
        return celtypes.IntType(str(value).find(str(element)))
    items = _items(value, "indexOf")
    return celtypes.IntType(items.index(element) if element in items else -1)


def _last_index_of(value: Any, element: Any) -> celtypes.IntType:
    if isinstance(value, celtypes.StringType):
        return celtypes.IntType(str(value).rfind(str(element)))
    items = _items(value, "lastIndexOf")
    matches = [i for i, item in enumerate(items) if item == element]
    return celtypes.IntType(matches[-1] if matches else -1)


KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
}


@lru_cache(maxsize=512)
def compile_rule(rule: str) -> celpy.Runner:
    """A compiled rule; a rule that does not parse is a bug in the models: ValueError."""
    env = celpy.Environment()
    try:
        ast = env.compile(rule)
    except CELParseError as exc:
        raise ValueError(f"CEL rule does not compile: {rule!r}: {exc}") from exc
    return env.program(ast, functions=KUBERNETES_FUNCTIONS)


# --- typed values -------------------------------------------------------------------------


def to_cel(value: Any, schema: Schema) -> Any:
    """A JSON value as a CEL value, typed by its schema node."""
    kind = schema.get("type")
    if value is None:
        return None
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            out[celtypes.StringType(key)] = to_cel(item, sub)
        return celtypes.MapType(out)
    if kind == "array" and isinstance(value, list):
        return celtypes.ListType([to_cel(v, schema.get("items", {})) for v in value])
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.IntType(value)
    # Untyped or mistyped (schema validation reports those): the plain JSON mapping.
    return json_to_cel(value)


# --- the walk -----------------------------------------------------------------------------


def evaluate(obj: Any, schema: Schema, old: Any = None) -> list[RuleViolation]:
    """Every rule in `schema` that `obj` breaks; transition rules only when `old` is given.

    Rules are not run at a node that holds (at any depth) a list, string or map beyond its
    schema's size limit: the API server refuses those sizes first (and bounds CEL's cost by
    them), and a rule such as "weights rise strictly" is quadratic in its list, so running it
    on 10,000 items would take minutes to repeat what the size error says.
    """
    above, oversized = _oversized(obj, schema)
    return list(_walk(obj, schema, old, "", old is not None, above, oversized))


def _too_big(obj: Any, schema: Schema) -> bool:
    limit: int
    if isinstance(obj, list):
        limit = schema.get("maxItems", len(obj))
    elif isinstance(obj, str):
        limit = schema.get("maxLength", len(obj))
    elif isinstance(obj, dict):
        limit = schema.get("maxProperties", len(obj))
    else:
        return False
    return len(obj) > limit


def _oversized(obj: Any, schema: Schema) -> tuple[frozenset[str], frozenset[str]]:
    """Paths at or above a value beyond its size limit, and those values' own paths (one pass
    over `obj`)."""
    found: set[str] = set()
    selves: set[str] = set()
    stack: list[tuple[Any, Schema, str, tuple[str, ...]]] = [(obj, schema, "", ())]
    while stack:
        node, sub, path, above = stack.pop()
        if not isinstance(sub, dict):
            continue
        if _too_big(node, sub):
            found.update(above)
            found.add(path)
            selves.add(path)
            continue  # what lies inside is refused with it
        if isinstance(node, dict):
            props = sub.get("properties", {})
            extra = sub.get("additionalProperties")
            for key, value in node.items():
                child = props.get(key, extra if isinstance(extra, dict) else None)
                if child is not None:
                    stack.append((value, child, _join(path, str(key)), (*above, path)))
        elif isinstance(node, list) and isinstance(sub.get("items"), dict):
            for i, value in enumerate(node):
                stack.append((value, sub["items"], f"{path}[{i}]", (*above, path)))
    return frozenset(found), frozenset(selves)


def _walk(
    obj: Any,
    schema: Schema,
    old: Any,
    path: str,
    update: bool,
    skip: frozenset[str] = frozenset(),
    oversized: frozenset[str] = frozenset(),
) -> Iterator[RuleViolation]:
    if obj is None or path in oversized:
        return
    rules = [] if path in skip else schema.get("x-kubernetes-validations", [])
    for entry in rules:
        rule = entry["rule"]
        transition = is_transition_rule(rule)
        if transition and (not update or old is None):
            continue
        violation = _check(rule, entry.get("message", rule), obj, schema, old, path, transition)
        if violation is not None:
            yield violation
    if isinstance(obj, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, value in obj.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from _walk(
                    value, sub, old_map.get(key), _join(path, str(key)), update, skip, oversized
                )
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        # Items of atomic lists have no old value to correlate with (as in Kubernetes).
        for i, value in enumerate(obj):
            yield from _walk(value, schema["items"], None, f"{path}[{i}]", update, skip, oversized)


def _check(
    rule: str, message: str, obj: Any, schema: Schema, old: Any, path: str, transition: bool
) -> RuleViolation | None:
    result: Any
    try:
        # Values CEL cannot hold (an integer beyond 64 bits) make the rule unevaluable.
        activation = {"self": to_cel(obj, schema)}
        if transition:
            activation["oldSelf"] = to_cel(old, schema)
        result = compile_rule(rule).evaluate(activation)
    except CELEvalError as exc:
        result = exc
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError) as exc:
        result = CELEvalError(str(exc))
    if isinstance(result, CELEvalError):
        detail = result.args[0] if result.args else result
        return RuleViolation(path, rule, f"rule {rule!r} failed to evaluate: {detail}", True)
    if result is True or result == celtypes.BoolType(True):
        return None
    if not isinstance(result, celtypes.BoolType):
        return RuleViolation(path, rule, f"rule {rule!r} gave {result!r}, not a bool", True)
    return RuleViolation(path, rule, message)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
