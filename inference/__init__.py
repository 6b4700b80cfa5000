"""Deterministic generation, model manifests and locality-sensitive digests.

This package knows nothing of chains: the oracle node feeds it inputs and commits its digests.
"""
