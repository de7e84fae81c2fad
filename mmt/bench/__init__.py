"""Benchmarks: commands that print figures (`mmt bench ...`), and their plumbing."""
