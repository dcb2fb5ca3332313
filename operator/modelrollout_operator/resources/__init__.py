"""What the operator owns for a ModelVersion, decided without I/O: resource names, the Job,
Deployment and Service manifests, the restricted pod settings, the trainer's result and the
lifecycle (the next phase and the writes it needs). The I/O client lives in `k8s/`; the purity
contract in pyproject.toml keeps this package free of it."""
