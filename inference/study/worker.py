"""The worker process of a study run: one variant, a list of cells, chunks written to the store.

It runs in its own process because a variant's instruction set (ATEN_CPU_CAPABILITY and friends)
must be in the environment before torch is imported, and so that every variant starts from a fresh
interpreter. The request arrives as JSON on stdin; progress goes to stdout as "done N" lines.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def generate_cells(request: dict[str, object]) -> None:
    """Generate the requested cells in batches, writing a chunk every `chunk_size` samples."""
    import numpy as np
    import torch

    from inference.study.drivers import open_driver
    from inference.study.store import SampleStore
    from inference.study.variants import Variant

    variant = Variant(**request["variant"])  # type: ignore[arg-type]
    torch.set_num_threads(variant.threads)
    torch.use_deterministic_algorithms(variant.deterministic)
    driver = open_driver(str(request["model"]))
    store = SampleStore(Path(str(request["store"])), driver.name)
    cells = [(int(c), int(s)) for c, s in request["cells"]]  # type: ignore[attr-defined]
    chunk_size = int(request["chunk_size"])  # type: ignore[call-overload]
    fingerprint = driver.fingerprint()
    for start in range(0, len(cells), chunk_size):
        chunk = cells[start : start + chunk_size]
        began = time.monotonic()
        images = []
        for offset in range(0, len(chunk), variant.batch_size):
            batch = chunk[offset : offset + variant.batch_size]
            images.append(driver.generate([c for c, _ in batch], [s for _, s in batch], variant))
            print(f"done {len(batch)}", flush=True)
        provenance = {
            "variant": variant.as_dict(),
            "fingerprint": fingerprint,
            "seconds": round(time.monotonic() - began, 3),
            "samples": len(chunk),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        store.write_chunk(
            variant.name,
            [c for c, _ in chunk],
            [s for _, s in chunk],
            np.concatenate(images),
            provenance,
        )


def main() -> None:
    generate_cells(json.loads(sys.stdin.read()))


if __name__ == "__main__":
    main()
