"""Benchmarks behind ``kvision bench ...``: JSON out, never timed asserts."""
