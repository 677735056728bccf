"""Reproducible benchmarks: every result is a ratio against a baseline from the same run."""
