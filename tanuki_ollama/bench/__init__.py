"""Benchmarks: commands that measure and print JSON (never timed assertions in tests)."""
