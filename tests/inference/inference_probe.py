"""Runs generations in a fresh process and prints their digests as JSON (determinism tests).

Usage: python tests/inference/inference_probe.py '[{"model": ..., "inputs": [...],
"threads": n, "batch": bool}, ...]' prints a JSON list, one entry per job. Variables such as
ATEN_CPU_CAPABILITY are read by torch at import, which is why this runs as its own process.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from inference.models import load_model
from inference.runners import generate, generate_images, generate_texts
from inference.specs import ImageInput, TextInput, parse_input


def run_job(request: dict[str, Any]) -> dict[str, Any]:
    """Generate every input of one job and describe the results."""
    model = load_model(request["model"])
    specs = [parse_input(model.kind, json.dumps(raw)) for raw in request["inputs"]]
    threads = request.get("threads")
    if request.get("batch"):
        if model.kind == "image":
            image_specs = [s for s in specs if isinstance(s, ImageInput)]
            results = generate_images(model, image_specs, threads=threads)
        else:
            text_specs = [s for s in specs if isinstance(s, TextInput)]
            results = generate_texts(model, text_specs, threads=threads)
    else:
        results = [generate(model, spec, threads=threads) for spec in specs]
    return {
        "model_id": model.model_id.hex(),
        "results": [
            {
                "digest": r.digest.hex(),
                "artifact_sha256": hashlib.sha256(r.artifact).hexdigest(),
                "token_ids": r.token_ids,
                "fingerprint": r.fingerprint,
            }
            for r in results
        ],
    }


def main() -> None:
    print(json.dumps([run_job(job) for job in json.loads(sys.argv[1])]))


if __name__ == "__main__":
    main()
