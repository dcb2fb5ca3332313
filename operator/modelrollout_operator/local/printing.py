"""Human output: one progress line per engine pass, and the closing summary table. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from .summary import ScenarioResult
from .timeline import Tick, VersionFigures


def _accuracy(figures: VersionFigures) -> str:
    if figures.accuracy is None:
        return f"  -   (n={figures.samples})"
    return f"{figures.accuracy:.3f} (n={figures.samples})"


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}us"
    return f"{seconds * 1000:.1f}ms"


def progress_line(tick: Tick) -> str:
    """E.g. `[ 41.2s] scorer-v3-canary step 1/4 weight 10% | acc v1 0.791 (n=812) v3 ...`."""
    base = tick.figures.get(tick.baseline, VersionFigures())
    cand = tick.figures.get(tick.candidate, VersionFigures())
    verdict = tick.verdict or "-"
    if tick.failed_checks:
        verdict += f" (failed {tick.failed_checks})"
    line = (
        f"[{tick.at:6.1f}s] {tick.experiment}  step {tick.step}/{tick.total_steps}"
        f"  weight {tick.weight:3d}%"
        f" | accuracy v{tick.baseline} {_accuracy(base)}  v{tick.candidate} {_accuracy(cand)}"
        f" | p99 v{tick.baseline} {_latency(base.p99)} v{tick.candidate} {_latency(cand.p99)}"
        f" | verdict {verdict} | {tick.phase}"
    )
    return line


def worth_printing(previous: Tick | None, tick: Tick) -> bool:
    """A line when an analysis ran or the rollout moved; passes that only waited stay quiet."""
    if previous is None or tick.verdict is not None or tick.event is not None:
        return True
    return (previous.phase, previous.step, previous.weight) != (tick.phase, tick.step, tick.weight)


def summary_table(results: Sequence[ScenarioResult]) -> str:
    """The closing table: one row per scenario, expected against actual."""
    header = (
        "scenario",
        "experiment",
        "expected",
        "actual",
        "steps walked",
        "final weights",
        "accuracy (baseline / candidate)",
        "seconds",
        "ok",
    )
    rows = [header]
    for r in results:
        acc_b = r.accuracy.get(r.baseline)
        acc_c = r.accuracy.get(r.candidate)
        rows.append(
            (
                r.name,
                r.experiment,
                r.expected,
                r.actual,
                " > ".join(f"{w}%" for w in r.steps_walked) or "-",
                " ".join(f"v{v}={w}%" for v, w in sorted(r.final_weights.items())),
                f"{_fmt(acc_b)} / {_fmt(acc_c)}",
                f"{r.seconds:.1f}",
                "yes" if r.ok else "NO",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
