"""Graded 256-bit sketches of float states: what an executor commits per step and an auditor
recomputes, compared by Hamming distance within a tolerance (one bytes32, so one digest slot).

A sketch reads a state (or a step's update, the difference of two states) scaled to unit length,
projects it on 256 fixed +-1 directions and keeps one bit per direction:

- ``sign`` (SimHash): the sign of the projection; a bit flips with probability angle/pi.
- ``q<w>``: the parity of ``floor(projection / w + offset)``, a random offset per bit; a relative
  change of size r flips a bit with probability about 0.8 r / w (capped at 1/2), so the width w
  sets where the sketch stops telling small changes apart. Honest hardware noise is a relative
  change of ~1e-3 per network evaluation; a cheaper computation changes ~1e-2 or more, which the
  sign bits of 256 directions barely see (expected ~1 bit) and a narrow quantiser sees clearly.

What is sketched matters as much as how. A step's result (``state``) hides the step's error in the
whole latent; its update (``update``) is tiny at the last steps, where noise then dominates; the
denoiser prediction that the step implies (``prediction``: for DDIM and Euler a step is affine in
the prediction, x_{t+1} = A(x_t) + b * eps, so eps = (x_{t+1} - A) / b) carries honest noise at
about the same relative size at every step. The study (``inference.study.audit``) compares them on
data. Directions and offsets come from sha256 in counter mode, the
arithmetic is float64, so every machine derives the same sketch from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from hashlib import sha256
from typing import Literal

import numpy as np
import numpy.typing as npt

SKETCH_BITS = 256
_TAG = b"genoracle.audit.sketch.v1"

Basis = Literal["state", "update", "prediction"]


def _stream(tag: bytes, count: int) -> bytes:
    blocks = -(-count // 32)
    return b"".join(sha256(tag + i.to_bytes(8, "big")).digest() for i in range(blocks))[:count]


@lru_cache(maxsize=16)
def directions(dim: int) -> npt.NDArray[np.float64]:
    """(SKETCH_BITS, dim) matrix of +-1: projections of a unit vector have variance 1."""
    raw = np.frombuffer(_stream(_TAG + b".dirs" + dim.to_bytes(8, "big"), dim * 32), np.uint8)
    signs = np.unpackbits(raw).reshape(SKETCH_BITS, dim).astype(np.float64)
    matrix: npt.NDArray[np.float64] = 2.0 * signs - 1.0
    return matrix


@lru_cache(maxsize=1)
def offsets() -> npt.NDArray[np.float64]:
    """One offset in [0, 1) per bit, for the quantised sketches."""
    words = np.frombuffer(_stream(_TAG + b".offsets", SKETCH_BITS * 8), dtype=">u8")
    result: npt.NDArray[np.float64] = words.astype(np.float64) / 2.0**64
    return result


def projections(vector: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The SKETCH_BITS projections of the vector scaled to unit length (zero stays zero)."""
    flat = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(flat))
    unit = flat / norm if norm > 0 else flat
    result: npt.NDArray[np.float64] = directions(flat.size) @ unit
    return result


@dataclass(frozen=True)
class SketchDesign:
    """What is sketched (a state, or a step's update) and how (width None: sign bits)."""

    name: str
    basis: Basis
    width: float | None

    def bits(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
        if self.width is None:
            return (values > 0).astype(np.uint8)
        cells = np.floor(values / self.width + offsets())
        return (cells.astype(np.int64) & 1).astype(np.uint8)

    def sketch(self, vector: npt.ArrayLike) -> bytes:
        """The 32-byte sketch of one vector (already the update, for an update design)."""
        return np.packbits(self.bits(projections(vector))).tobytes()

    def sketch_step(
        self,
        before: npt.ArrayLike,
        after: npt.ArrayLike,
        affine: tuple[npt.ArrayLike, float] | None = None,
    ) -> bytes:
        """The sketch of one step: of ``after``, of ``after - before`` (update), or of the
        prediction ``(after - A) / b`` the step implies (prediction; ``affine`` = (A, b))."""
        later = np.asarray(after, dtype=np.float64)
        if self.basis == "state":
            return self.sketch(later)
        if self.basis == "update":
            return self.sketch(later - np.asarray(before, dtype=np.float64))
        if affine is None:
            raise ValueError(f"sketch design {self.name} needs the step's affine coefficients")
        offset, scale = affine
        # A step that ignores the prediction (DDIM's last step when its final alpha equals the
        # last timestep's) has nothing to imply: its result minus A is sketched as it is.
        scale = scale if abs(scale) > 1e-9 else 1.0
        return self.sketch((later - np.asarray(offset, dtype=np.float64)) / scale)


def distance(a: bytes, b: bytes) -> int:
    """Hamming distance of two sketches."""
    if len(a) != len(b):
        raise ValueError(f"sketches of {len(a)} and {len(b)} bytes cannot be compared")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


DESIGNS: dict[str, SketchDesign] = {
    d.name: d
    for d in (
        SketchDesign("sign-state", "state", None),
        SketchDesign("sign-update", "update", None),
        SketchDesign("q0.1-update", "update", 0.1),
        SketchDesign("q0.03-update", "update", 0.03),
        SketchDesign("q0.01-update", "update", 0.01),
        SketchDesign("q0.003-update", "update", 0.003),
        SketchDesign("sign-prediction", "prediction", None),
        SketchDesign("q0.3-prediction", "prediction", 0.3),
        SketchDesign("q0.1-prediction", "prediction", 0.1),
        SketchDesign("q0.03-prediction", "prediction", 0.03),
        SketchDesign("q0.01-prediction", "prediction", 0.01),
        SketchDesign("q0.003-prediction", "prediction", 0.003),
        SketchDesign("q0.001-prediction", "prediction", 0.001),
        SketchDesign("q0.3-state", "state", 0.3),
        SketchDesign("q0.1-state", "state", 0.1),
        SketchDesign("q0.03-state", "state", 0.03),
        SketchDesign("q0.01-state", "state", 0.01),
        SketchDesign("q0.003-state", "state", 0.003),
        SketchDesign("q0.001-state", "state", 0.001),
        SketchDesign("q0.0003-state", "state", 0.0003),
    )
}
"""Candidate designs; the study picks one per kind of state (diffusion steps, hidden states)."""
