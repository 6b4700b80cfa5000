"""The model of honest hardware noise: relative Gaussian noise multiplied into a network's output.

Honest hardware (another GPU model, another kernel library, another reduction order) changes the
low bits of every network evaluation. The noise study models it as ``out * (1 + eps * z)`` at
every call, with ``z`` drawn from a CPU generator of its own per sample and replica (so a
sample's noise does not depend on its batch); the tolerances are calibrated against it, and the
tests run an honest node "on other hardware" with it (oracle/dev/dishonest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any


def noise_seed(seed: int, replica: int) -> int:
    """The seed of a sample's noise generator: independent of the image seed's own stream."""
    material = b"genoracle.study.noise" + seed.to_bytes(8, "big") + replica.to_bytes(4, "big")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") >> 1


@contextlib.contextmanager
def injected_noise(module: Any, eps: float, seeds: Sequence[int], replica: int) -> Iterator[None]:
    """Multiply the module's output by (1 + eps * z) on every call, z from one generator per
    sample (row i of a doubled classifier-free-guidance batch uses sample i % n's generator)."""
    import torch

    if eps <= 0:
        yield
        return
    generators = [torch.Generator().manual_seed(noise_seed(s, replica)) for s in seeds]

    def perturb(tensor: torch.Tensor) -> torch.Tensor:
        rows = [
            torch.randn(tuple(tensor.shape[1:]), generator=generators[i % len(generators)])
            for i in range(tensor.shape[0])
        ]
        z = torch.stack(rows).to(device=tensor.device, dtype=tensor.dtype)
        return tensor * (1.0 + eps * z)

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (perturb(output[0]), *output[1:])
        output.sample = perturb(output.sample)
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
