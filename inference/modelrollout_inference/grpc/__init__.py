"""The KServe v2 / Triton gRPC face (`GRPCInferenceService`), beside HTTP on the same core.

Inference, health and metadata only: feedback stays on HTTP (`POST /v2/models/{m}/feedback`).
"""
