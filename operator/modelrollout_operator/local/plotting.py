"""The timeline plot: traffic weight and accuracy per version over time, rollback and
promotion marked. matplotlib with the Agg backend: no display needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .timeline import Tick

MIN_SAMPLES = 30  # fewer labels than this make a proportion noise, not a point worth drawing
_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b")
_EVENT_STYLE = {"rollback": ("#d62728", "rolled back"), "promotion": ("#2ca02c", "promoted")}


def _series(
    ticks: Sequence[Tick], version: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """(times, weights) while the version took part, and (times, accuracies) where measured."""
    wt: list[float] = []
    wv: list[float] = []
    at: list[float] = []
    av: list[float] = []
    for tick in ticks:
        weights = tick.weights()
        if version in weights:
            wt.append(tick.at)
            wv.append(weights[version])
        figures = tick.figures.get(version)
        if figures is not None and figures.accuracy is not None and figures.samples >= MIN_SAMPLES:
            at.append(tick.at)
            av.append(figures.accuracy)
    return wt, wv, at, av


def draw_timeline(ticks: Sequence[Tick], path: Path, title: str) -> Path:
    """Draw the ticks of every scenario on one time axis and save a PNG at `path`."""
    if not ticks:
        raise ValueError("no engine passes to draw")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versions = sorted({v for t in ticks for v in (t.baseline, t.candidate)}, key=_version_key)
    colors = {v: _COLORS[i % len(_COLORS)] for i, v in enumerate(versions)}
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, dpi=110, gridspec_kw={"height_ratios": [1, 1.2]}
    )
    experiments = list(dict.fromkeys(t.experiment for t in ticks))
    labelled: set[tuple[str, str]] = set()  # (panel, version): one legend entry each
    for version in versions:
        for experiment in experiments:
            # one line per experiment, so scenarios are not joined across the gap between them
            part = [t for t in ticks if t.experiment == experiment]
            wt, wv, at, av = _series(part, version)
            if wt:
                top.step(
                    wt,
                    wv,
                    where="post",
                    color=colors[version],
                    linewidth=2,
                    label=_once(labelled, "weight", version),
                )
            if at:
                bottom.plot(
                    at,
                    av,
                    marker="o",
                    markersize=3,
                    color=colors[version],
                    linewidth=1.5,
                    label=_once(labelled, "accuracy", version),
                )
    for tick in ticks:
        if tick.event in _EVENT_STYLE:
            color, word = _EVENT_STYLE[tick.event]
            for axis in (top, bottom):
                axis.axvline(tick.at, color=color, linestyle="--", linewidth=1.2)
            top.annotate(
                f"{word}\nv{tick.candidate}",
                xy=(tick.at, 55),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=color,
                fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
    first = min(t.at for t in ticks)
    for axis in (top, bottom):
        # before the first pass: datasets drawn, versions trained, servers started
        axis.axvspan(0, first, color="#999999", alpha=0.12, linewidth=0)
        axis.set_xlim(0, max(t.at for t in ticks) * 1.12)  # room for the last event's label
    top.annotate(
        "data, training,\nservers", xy=(first / 2, 50), ha="center", va="center",
        fontsize=8, color="#555555",
    )  # fmt: skip
    starts: dict[str, float] = {}
    for tick in ticks:
        starts.setdefault(tick.experiment, tick.at)
    for experiment, start in starts.items():
        top.annotate(
            experiment, xy=(start, 104), fontsize=9, color="#444444", annotation_clip=False
        )
    return _save(
        fig, top, bottom, f"accuracy (labelled feedback,\n>= {MIN_SAMPLES} labels)", title, path
    )


def _save(fig: Any, top: Any, bottom: Any, accuracy_label: str, title: str, path: Path) -> Path:
    """Both timelines' frame: weights above, accuracy below, shared time axis; written to path."""
    import matplotlib.pyplot as plt  # lazily, as the drawing functions do

    top.set_ylabel("traffic weight (%)")
    top.set_ylim(-5, 112)
    top.grid(alpha=0.3)
    top.legend(loc="center left", fontsize=9)
    bottom.set_ylabel(accuracy_label)
    bottom.set_xlabel("seconds since the demo started")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower left", fontsize=9)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 30, version)


def _once(seen: set[tuple[str, str]], panel: str, version: str) -> str | None:
    if (panel, version) in seen:
        return None
    seen.add((panel, version))
    return f"v{version}"


def draw_cycle(
    points: Sequence[tuple[float, dict[str, int], dict[str, float]]],
    marks: Sequence[tuple[float, str]],
    path: Path,
    title: str,
) -> Path:
    """The continuous-learning cycle: weight and live accuracy per version, sampled over time
    (`points`: seconds, weights, accuracies), with its moments marked (drift onset, retrain,
    canary steps, promotion)."""
    if not points:
        raise ValueError("no samples to draw")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versions = sorted({v for _, w, a in points for v in (*w, *a)}, key=_version_key)
    colors = {v: _COLORS[i % len(_COLORS)] for i, v in enumerate(versions)}
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, dpi=110, gridspec_kw={"height_ratios": [1, 1.2]}
    )
    for version in versions:
        wt = [t for t, w, _ in points if version in w]
        wv = [w[version] for _, w, _ in points if version in w]
        if wt:
            top.step(wt, wv, where="post", color=colors[version], linewidth=2, label=f"v{version}")
        at = [t for t, _, a in points if version in a]
        av = [a[version] for _, _, a in points if version in a]
        if at:
            bottom.plot(at, av, marker="o", markersize=2, color=colors[version], linewidth=1.5,
                        label=f"v{version}")  # fmt: skip
    for i, (moment, label) in enumerate(marks):
        color = "#d62728" if label == "drift" else "#2ca02c" if label == "promoted" else "#555555"
        for axis in (top, bottom):
            axis.axvline(moment, color=color, linestyle="--", linewidth=0.9, alpha=0.8)
        top.annotate(label, xy=(moment, 104 - 14 * (i % 4)), xytext=(2, 0),
                     textcoords="offset points", fontsize=8, color=color,
                     annotation_clip=False)  # fmt: skip
    return _save(fig, top, bottom, "live accuracy\n(labels of the last 5s)", title, path)
