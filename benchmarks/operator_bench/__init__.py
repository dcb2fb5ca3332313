"""Helpers of `benchmarks/bench_operator.py`: the cluster stand-in, a fake Prometheus API,
and the arithmetic on scraped metrics. Not part of any shipped package."""
