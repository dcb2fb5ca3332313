"""What `modelrollout get experiment` and `modelrollout list` print: plain text from an
Experiment's object and its events. Pure (the time is an argument); no colour, so it reads
the same in a terminal, a pipe and a CI log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..api.v1alpha1 import (
    ExperimentPhase,
    ExperimentSpec,
    ExperimentStatus,
    MetricResult,
    format_duration,
)
from ..rollout import next_analysis_at
from ..rollout.holding import undo_open

_STATUS_FIELDS = {f.alias or k for k, f in ExperimentStatus.model_fields.items()}
#: Events shown under an Experiment, newest last.
SHOWN_EVENTS = 6


def parse_status(raw: Any) -> ExperimentStatus:
    if not isinstance(raw, Mapping):
        return ExperimentStatus()
    try:
        return ExperimentStatus.model_validate(
            {k: v for k, v in raw.items() if k in _STATUS_FIELDS}
        )
    except ValidationError:
        return ExperimentStatus()


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.3f}"


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "-"
    seconds = (now - then).total_seconds()
    return f"{format_duration(max(0.0, round(seconds)))} ago"


def _until(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "-"
    seconds = (then - now).total_seconds()
    return "due now" if seconds <= 0 else f"in {format_duration(round(seconds) or 1)}"


def _metric_row(r: MetricResult) -> list[str]:
    bounds = "-" if r.lower is None and r.upper is None else f"[{_num(r.lower)}, {_num(r.upper)}]"
    return [
        r.metric,
        r.verdict.value.upper(),
        _num(r.candidate),
        _num(r.baseline),
        bounds,
        f"{r.candidate_samples if r.candidate_samples is not None else '-'}"
        f"/{r.baseline_samples if r.baseline_samples is not None else '-'}",
    ]


def table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell (kubectl's way)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _weights(spec: ExperimentSpec, st: ExperimentStatus) -> str:
    if st.phase == ExperimentPhase.SUCCEEDED and st.weight == 100:
        return f"{spec.candidate} 100% (promoted)"
    if st.phase == ExperimentPhase.HOLDING_BACK:
        return f"{spec.candidate} {st.weight}% (promoted), {spec.baseline} {100 - st.weight}% (held back)"
    return f"{spec.baseline} {100 - st.weight}%, {spec.candidate} {st.weight}%"


def _event_line(event: Mapping[str, Any], now: datetime) -> str:
    when = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    at: datetime | None = None
    if isinstance(when, str):
        try:
            at = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            at = None
    mark = "!" if event.get("type") == "Warning" else " "
    message = str(event.get("message", ""))
    if len(message) > 110:
        message = message[:107] + "..."
    return f"{mark} {_ago(at, now):>9}  {event.get('reason', '')}: {message}"


def render_experiment(
    body: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime
) -> str:
    """The whole view of one Experiment."""
    meta = body.get("metadata") or {}
    name, namespace = meta.get("name", "?"), meta.get("namespace", "default")
    try:
        spec = ExperimentSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        return f"Experiment {namespace}/{name}: invalid spec: {exc.errors()[0].get('msg')}\n"
    st = parse_status(body.get("status"))
    lines = [
        f"Name:       {name}",
        f"Namespace:  {namespace}",
        f"Model:      {spec.model}  ({spec.baseline} -> {spec.candidate}, "
        f"{spec.strategy.type.value})",
        f"Phase:      {st.phase.value}" + ("  (paused by spec)" if spec.paused else ""),
        f"Step:       {st.current_step}/{st.total_steps}"
        + (
            f"  baking since {_ago(st.step_started_at, now)}"
            if st.step_started_at and st.phase == ExperimentPhase.PROGRESSING
            else ""
        ),
        f"Weights:    {_weights(spec, st)}",
    ]
    if st.holdback is not None:
        hb = st.holdback
        if st.phase == ExperimentPhase.HOLDING_BACK and hb.paused_at is not None:
            left = format_duration(max(0.0, (hb.ends_at - hb.paused_at).total_seconds()))
            lines.append(
                f"Holdback:   {hb.previous} keeps {hb.percent}%; the window is paused with "
                f"{left} left; `modelrollout undo {name}` restores it"
            )
        elif st.phase == ExperimentPhase.HOLDING_BACK:
            lines.append(
                f"Holdback:   {hb.previous} keeps {hb.percent}% until {hb.ends_at:%H:%M:%S} UTC "
                f"({_until(hb.ends_at, now)}); `modelrollout undo {name}` restores it"
            )
        elif undo_open(st, now):
            lines.append(
                f"Undo:       {hb.previous} stays Ready {_until(hb.ends_at, now)} "
                f"(`modelrollout undo {name}`), then it is retired"
            )
    paused = spec.paused or (st.holdback is not None and st.holdback.paused_at is not None)
    live = st.phase in (ExperimentPhase.PROGRESSING, ExperimentPhase.HOLDING_BACK) and not paused
    due = next_analysis_at(spec, st) if live else None
    lines.append(
        f"Analysis:   every {spec.analysis.interval}, failures "
        f"{st.failed_checks}/{spec.analysis.failure_limit}, last {_ago(st.last_analysis_at, now)}"
        + (f", next {_until(due, now)}" if due is not None else "")
    )
    lines.append(f"Message:    {st.message or '-'}")
    lines.append("")
    run = st.analysis[-1] if st.analysis else None
    if run is None:
        lines.append("Metrics:    no analysis yet")
    else:
        lines.append(
            f"Metrics (step {run.step}, weight {run.weight}%, {_ago(run.time, now)}): "
            f"{run.verdict.value.upper()}"
        )
        rows = [["METRIC", "VERDICT", "CANDIDATE", "BASELINE", "BOUNDS", "SAMPLES C/B"]]
        rows += [_metric_row(r) for r in run.results]
        lines += table(rows, indent="  ")
        for r in run.results:
            if r.message:
                lines.append(f"  - {r.message}")
    if len(st.analysis) > 1:
        history = " ".join(
            {"pass": "+", "fail": "x", "inconclusive": "?"}[r.verdict.value] for r in st.analysis
        )
        lines.append(f"History:    {history}  (+ pass, x fail, ? inconclusive; newest last)")
    lines.append("")
    shown = list(events)[-SHOWN_EVENTS:]
    lines.append("Events:" if shown else "Events:     none")
    lines += [f"  {_event_line(e, now)}" for e in shown]
    return "\n".join(lines) + "\n"


def render_list(bodies: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """One line per Experiment (kubectl get mexp, with the numbers that matter)."""
    rows = [["NAMESPACE", "NAME", "MODEL", "PHASE", "STEP", "WEIGHT", "LAST ANALYSIS", "AGE"]]
    for body in bodies:
        meta = body.get("metadata") or {}
        st = parse_status(body.get("status"))
        verdict = st.analysis[-1].verdict.value if st.analysis else "-"
        created = meta.get("creationTimestamp")
        age = "-"
        if isinstance(created, str):
            try:
                age = _ago(datetime.fromisoformat(created.replace("Z", "+00:00")), now)
            except ValueError:
                age = "-"
        elif st.started_at is not None:
            age = _ago(st.started_at, now)
        rows.append(
            [
                str(meta.get("namespace", "default")),
                str(meta.get("name", "?")),
                str((body.get("spec") or {}).get("model", "?")),
                st.phase.value,
                f"{st.current_step}/{st.total_steps}",
                f"{st.weight}%",
                f"{verdict} {_ago(st.last_analysis_at, now)}" if st.analysis else "-",
                age.removesuffix(" ago"),
            ]
        )
    if len(rows) == 1:
        return "No Experiments found.\n"
    return "\n".join(table(rows)) + "\n"
