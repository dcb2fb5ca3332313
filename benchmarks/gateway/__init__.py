"""Helpers for benchmarks/bench_gateway.py."""
