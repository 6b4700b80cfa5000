"""Deterministic generation, model manifests and locality-sensitive digests.

This package knows nothing of chains: the oracle node feeds it inputs and commits its digests.
Its top-level modules are the node's path from a task input to a digest (specs, seeds,
compute_budget, manifest, models and the built-ins they build, backends, runners, determinism,
digests, tolerances, errors); ``digits/`` is a model it serves. ``study/`` (the collision study)
and ``bulk/`` (the study's and benchmarks' accelerators) are tooling the node never imports.
"""
