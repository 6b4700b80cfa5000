"""Bulk accelerators for the study and the benchmarks: millions of digests and pairs at once.

Each computes what a node computes one item at a time, bit for bit (``batch_phash`` equals
``inference.digests.phash64``, ``resample`` equals PIL's LANCZOS resize, ``hamming`` counts what
``inference.digests.digests_agree`` decides), only faster. No module on the node's path imports
them (tests/test_architecture.py checks it).
"""
