"""The "Operator" dashboard: what the control plane decides and how fast it reconciles."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from rollout_dashboards import metrics as m
from rollout_dashboards.panels import (
    Query,
    annotation,
    datasource_variable,
    label_variable,
    row,
    stat_panel,
    table_panel,
    time_series,
)
from rollout_dashboards.promql import quantile, selector

UID = "modelrollout-operator"

_NS = {"namespace": "$namespace"}
_EXPERIMENT = {"namespace": "$namespace", "experiment": "$experiment"}


def experiment_panels() -> list[dashboard_builders.Panel]:
    phase = selector(m.EXPERIMENT_PHASE, **_EXPERIMENT)
    return [
        stat_panel(
            "Experiments by phase",
            "How many experiments are in each phase now.",
            [Query(f"sum by (phase) ({phase} == 1)", "{{phase}}", instant=True)],
            unit="short",
            width=8,
        ),
        table_panel(
            "Current phase per experiment",
            "Each experiment with its model and current phase.",
            Query(
                f"max by (namespace, experiment, model, phase) ({phase}) == 1",
                "{{experiment}}",
                instant=True,
            ),
            width=16,
        ),
        time_series(
            "Promotions and rollbacks",
            "Candidates promoted to 100% and rolled back to 0%, per experiment.",
            [
                Query(
                    "sum by (experiment) (increase("
                    f"{selector(m.PROMOTIONS, **_EXPERIMENT)}[$__rate_interval]))",
                    "{{experiment}} promoted",
                ),
                Query(
                    "sum by (experiment) (increase("
                    f"{selector(m.ROLLBACKS, **_EXPERIMENT)}[$__rate_interval]))",
                    "{{experiment}} rolled back",
                ),
            ],
            unit="short",
            bars=True,
            width=24,
        ),
    ]


def analysis_panels() -> list[dashboard_builders.Panel]:
    results = selector(m.ANALYSIS_RESULTS, **_EXPERIMENT)
    return [
        time_series(
            "Analysis verdicts",
            "Per-metric verdicts of each analysis run: pass, fail or inconclusive.",
            [
                Query(
                    f"sum by (metric, verdict) (increase({results}[$__rate_interval]))",
                    "{{metric}} {{verdict}}",
                )
            ],
            unit="short",
            bars=True,
            stacked=True,
            width=16,
        ),
        stat_panel(
            "Verdicts in range",
            "All verdicts over the dashboard's time range.",
            [Query(f"sum by (verdict) (increase({results}[$__range]))", "{{verdict}}", True)],
            unit="short",
            width=8,
        ),
    ]


def reconcile_panels() -> list[dashboard_builders.Panel]:
    latency = [
        Query(quantile(q, m.RECONCILE_DURATION, "kind", {}), f"{{{{kind}}}} p{label}")
        for q, label in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
    ]
    return [
        time_series(
            "Reconcile duration",
            "Time per reconcile of an Experiment or a ModelVersion (p50, p95, p99).",
            latency,
            unit="s",
        ),
        time_series(
            "Reconciles per second",
            "Reconcile runs per second, by resource kind.",
            [
                Query(
                    f"sum by (kind) (rate({m.RECONCILE_DURATION}_count[$__rate_interval]))",
                    "{{kind}}",
                )
            ],
            unit="ops",
        ),
    ]


def training_panels() -> list[dashboard_builders.Panel]:
    jobs = selector(m.TRAINING_JOBS, **_NS)
    return [
        time_series(
            "Training jobs",
            "Training Jobs finished, by model and result (succeeded, failed, rejected by the "
            "acceptance gate).",
            [
                Query(
                    f"sum by (model, result) (increase({jobs}[$__rate_interval]))",
                    "{{model}} {{result}}",
                )
            ],
            unit="short",
            bars=True,
            stacked=True,
            width=16,
        ),
        stat_panel(
            "Training jobs in range",
            "Training Jobs finished over the dashboard's time range, by result.",
            [Query(f"sum by (result) (increase({jobs}[$__range]))", "{{result}}", True)],
            unit="short",
            width=8,
        ),
    ]


def build() -> dashboard_builders.Dashboard:
    rollbacks = selector(m.ROLLBACKS, **_EXPERIMENT)
    board = (
        dashboard_builders.Dashboard("Model rollout / Operator")
        .uid(UID)
        .description("The model-rollout operator: phases, analysis verdicts, reconciles, training.")
        .tags(["model-rollout"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(datasource_variable())
        .with_variable(
            label_variable(
                "namespace", "Namespace", f"label_values({m.EXPERIMENT_PHASE}, namespace)"
            )
        )
        .with_variable(
            label_variable(
                "experiment",
                "Experiment",
                f'label_values({m.EXPERIMENT_PHASE}{{namespace=~"$namespace"}}, experiment)',
            )
        )
        .annotation(
            annotation(
                "Rollbacks",
                f"increase({rollbacks}[2m]) > 0 or ({rollbacks} > 0 unless {rollbacks} offset 2m)",
                "red",
            )
        )
    )
    for title, panels in (
        ("Experiments", experiment_panels()),
        ("Analysis", analysis_panels()),
        ("Reconcile", reconcile_panels()),
        ("Training", training_panels()),
    ):
        board = board.with_row(row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board
