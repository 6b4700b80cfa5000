"""Deterministic generation, model manifests and locality-sensitive digests. Knows nothing of chains."""
