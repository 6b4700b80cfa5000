"""Verifiable fine-tuning (issue 16, the inference side): a training task's spec, its
content-addressed data, the deterministic round worker and the round checkpoint digest."""
