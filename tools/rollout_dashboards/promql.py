"""Pure PromQL builders shared by the dashboards: strings in, strings out, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Two-sided 95% normal quantile: the Wilson interval drawn around accuracy.
Z_95 = 1.959963984540054

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def selector(metric: str, **matchers: str) -> str:
    """`metric{label=~"value",...}` with regex matchers, the form Grafana variables need."""
    if not matchers:
        return metric
    inner = ",".join(f'{label}=~"{value}"' for label, value in matchers.items())
    return f"{metric}{{{inner}}}"


def quantile(q: float, histogram: str, by: str, matchers: Mapping[str, str]) -> str:
    """`histogram_quantile` of a histogram's buckets, aggregated over everything but `by`."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {q}")
    buckets = selector(f"{histogram}_bucket", **matchers)
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({buckets}[$__rate_interval])))"


def wilson_bound(correct: str, total: str, *, upper: bool, z: float = Z_95) -> str:
    """PromQL for one end of the Wilson score interval of the proportion `correct / total`.

    `correct` and `total` are PromQL vectors with identical label sets (e.g. per version);
    accuracy is a proportion, so the dashboard draws the same interval the analysis reasons
    with instead of a bare ratio that looks certain on ten samples.
    """
    if z <= 0:
        raise ValueError(f"z must be positive, got {z}")
    z2 = z * z
    p = f"(({correct}) / ({total}))"
    n = f"({total})"
    sign = "+" if upper else "-"
    return (
        f"({p} + {z2 / 2!r} / {n} {sign} {z!r} * sqrt({p} * (1 - {p}) / {n} + {z2 / 4!r} / ({n} ^ 2)))"
        f" / (1 + {z2!r} / {n})"
    )


def expand_variables(expr: str, values: Mapping[str, str]) -> str:
    """Substitute Grafana template variables (`$x`, `${x}`, `${x:fmt}`, `[[x]]`) in `expr`.

    Raises ValueError naming the first variable that `values` lacks, so a query that uses an
    undeclared variable fails loudly instead of reaching Prometheus half-expanded.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise ValueError(f"no value for dashboard variable {name!r} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def variables_in(expr: str) -> set[str]:
    """Names of the Grafana template variables that `expr` uses."""
    return {m.group(1) or m.group(2) or m.group(3) for m in _VARIABLE.finditer(expr)}
