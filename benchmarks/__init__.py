"""Benchmarks: load, latency, API economy and memory figures next to same-run baselines."""
