"""Kubernetes: pure manifest builders, the ModelVersion lifecycle rules, and the one async client."""
