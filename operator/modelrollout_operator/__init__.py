"""model-rollout control plane: API models, CRDs, rollout engine, operator, CLI."""
