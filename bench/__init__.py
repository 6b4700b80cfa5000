"""Benchmarks: each prints a table and one JSON line; run them through the Makefile."""
