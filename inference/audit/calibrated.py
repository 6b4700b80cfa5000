"""The audited mode's calibrated constants, from the audit study (reports/study/AUDIT.md; set
on odd seeds and prompts at modelled honest noise 1e-3, judged on even ones). A node reads them;
the contract will hold the same numbers per model."""

from __future__ import annotations

DIFFUSION_SKETCH = "q0.1-prediction"
"""The per-step sketch: 256 quantised projections of the denoiser prediction the step implies."""
DIFFUSION_TOLERANCE: dict[str, int] = {"tiny-sd": 48, "digits": 48}
"""Hamming threshold per model between the executor's and an auditor's sketch of one step."""
TEXT_SKETCH = "q0.03-state"
TEXT_TOLERANCE: dict[str, int] = {"smollm2-135m": 37, "tiny-llama": 37}
TEXT_MARGIN: dict[str, float] = {"smollm2-135m": 0.05, "tiny-llama": 0.05}
"""Largest logit gap below the auditor's argmax that a generated token may have."""
