"""Metric names of docs/contracts.md section 1: the one place the dashboards spell them."""

from typing import Final

# Gateway (labels: model, version, route, code / reason / outcome)
REQUESTS: Final = "modelrollout_requests_total"
REQUEST_DURATION: Final = "modelrollout_request_duration_seconds"
FALLBACKS: Final = "modelrollout_fallbacks_total"
FEEDBACK: Final = "modelrollout_feedback_total"
FEEDBACK_CORRECT: Final = "modelrollout_feedback_correct_total"
FEEDBACK_DROPPED: Final = "modelrollout_feedback_dropped_total"
TRAFFIC_WEIGHT: Final = "modelrollout_traffic_weight"
SHADOW_REQUESTS: Final = "modelrollout_shadow_requests_total"
SHADOW_FEEDBACK: Final = "modelrollout_shadow_feedback_total"
SHADOW_FEEDBACK_CORRECT: Final = "modelrollout_shadow_feedback_correct_total"

# Operator (labels: namespace, experiment, model, phase / metric, verdict / kind / result)
EXPERIMENT_PHASE: Final = "modelrollout_experiment_phase"
EXPERIMENT_WEIGHT: Final = "modelrollout_experiment_weight"
EXPERIMENT_STEP: Final = "modelrollout_experiment_step"
ANALYSIS_RESULTS: Final = "modelrollout_analysis_results_total"
ROLLBACKS: Final = "modelrollout_rollbacks_total"
PROMOTIONS: Final = "modelrollout_promotions_total"
RECONCILE_DURATION: Final = "modelrollout_reconcile_duration_seconds"
TRAINING_JOBS: Final = "modelrollout_training_jobs_total"

GATEWAY_METRICS: Final = (
    REQUESTS,
    REQUEST_DURATION,
    FALLBACKS,
    FEEDBACK,
    FEEDBACK_CORRECT,
    FEEDBACK_DROPPED,
    TRAFFIC_WEIGHT,
    SHADOW_REQUESTS,
    SHADOW_FEEDBACK,
    SHADOW_FEEDBACK_CORRECT,
)
OPERATOR_METRICS: Final = (
    EXPERIMENT_PHASE,
    EXPERIMENT_WEIGHT,
    EXPERIMENT_STEP,
    ANALYSIS_RESULTS,
    ROLLBACKS,
    PROMOTIONS,
    RECONCILE_DURATION,
    TRAINING_JOBS,
)

# Triton's own metrics (its /metrics on port 8002; labels model, version; failures by reason):
# read, not exported by us; with routing.provider httpRoute they are the only request signal.
TRITON_SUCCESS: Final = "nv_inference_request_success"
TRITON_FAILURE: Final = "nv_inference_request_failure"
TRITON_DURATION: Final = "nv_inference_request_duration_us"
TRITON_REQUEST_SUMMARY: Final = "nv_inference_request_summary_us"

TRITON_METRICS: Final = (TRITON_SUCCESS, TRITON_FAILURE, TRITON_DURATION, TRITON_REQUEST_SUMMARY)
