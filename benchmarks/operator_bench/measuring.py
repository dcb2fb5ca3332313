"""Pure arithmetic on what the benchmark scrapes: histograms, /proc figures. No I/O here
except the two /proc readers at the bottom, which take the text they need from one file."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", re.M)


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts (upper bound -> count), as Prometheus exposes them."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    total: float

    def minus(self, earlier: Histogram) -> Histogram:
        """The observations made between `earlier` and this snapshot."""
        before = dict(earlier.buckets)
        return Histogram(
            buckets=tuple((le, c - before.get(le, 0.0)) for le, c in self.buckets),
            count=self.count - earlier.count,
            total=self.total - earlier.total,
        )

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket, as PromQL's histogram_quantile does.

        None without observations; the highest finite bound when q falls in +Inf."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le, cum in self.buckets:
            if cum >= rank:
                if math.isinf(le):
                    return lower
                in_bucket = cum - below
                if in_bucket <= 0:
                    return le
                return lower + (le - lower) * (rank - below) / in_bucket
            lower, below = le, cum
        return lower

    def beyond_top(self, q: float) -> bool:
        """The q-quantile lies in the +Inf bucket: `quantile` is then only a lower bound."""
        finite = [cum for le, cum in self.buckets if not math.isinf(le)]
        return self.count > 0 and bool(finite) and finite[-1] < q * self.count


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def labels_of(text: str) -> dict[str, str]:
    """`{a="1",b="2"}` -> {"a": "1", "b": "2"}."""
    return dict(_LABEL.findall(text))


def parse_histogram(text: str, name: str, labels: Mapping[str, str] | None = None) -> Histogram:
    """Histogram `name` (the series whose labels include `labels`) from an exposition text.

    Empty when absent."""
    want = dict(labels or {})
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for m in _SAMPLE.finditer(text):
        metric, have, value = m[1], labels_of(m[2] or ""), float(m[3])
        if any(have.get(k) != v for k, v in want.items()):
            continue
        if metric == f"{name}_bucket":
            if "le" not in have:
                raise ValueError(f"{name}_bucket sample without an le label: {m[0]!r}")
            le = have["le"]
            buckets.append((math.inf if le == "+Inf" else float(le), value))
        elif metric == f"{name}_count":
            count = value
        elif metric == f"{name}_sum":
            total = value
    buckets.sort()
    return Histogram(buckets=tuple(buckets), count=count, total=total)


def counter_sum(text: str, name: str, label_filter: str = "") -> float:
    """Sum of every sample of `name` whose label set contains `label_filter`."""
    return sum(
        float(m[3]) for m in _SAMPLE.finditer(text) if m[1] == name and label_filter in (m[2] or "")
    )


def rss_from_status(status: str) -> float:
    """VmRSS in MiB from the text of /proc/<pid>/status."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmRSS line (a zombie or kernel thread?)")


def cpu_from_stat(stat: str, ticks_per_second: float) -> float:
    """user + system CPU seconds from the text of /proc/<pid>/stat."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def rss_mb(pid: int) -> float:
    return rss_from_status(Path(f"/proc/{pid}/status").read_text())


def cpu_seconds(pid: int) -> float:
    return cpu_from_stat(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))
