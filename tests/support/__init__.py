"""Shared test helpers: a real Prometheus server, a controllable metric source, kmock harness."""
