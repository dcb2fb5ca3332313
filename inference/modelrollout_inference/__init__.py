"""model-rollout inference gateway (KServe v2 / Triton HTTP protocol)."""
