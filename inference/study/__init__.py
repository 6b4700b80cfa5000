"""The reproducibility study: generate under honest and impostor conditions, compare digests.

It reproduces the collision experiment of Kim et al. (arXiv 2307.01898) on models that run
offline, and calibrates the per-lane tolerances that the built-in models ship with.
"""
