"""Grafana dashboards of model-rollout, built with grafana-foundation-sdk.

`tools/build_dashboards.py` writes them to `charts/model-rollout/dashboards/`, where the chart
ships them as ConfigMaps; a test fails when the committed JSON drifts from these builders.
"""

from rollout_dashboards.rendering import DASHBOARDS, render_all

__all__ = ["DASHBOARDS", "render_all"]
