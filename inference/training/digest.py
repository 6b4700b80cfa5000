"""The round checkpoint digest: what a member commits for a round, beside the checkpoint sha256.

Four 64-bit lanes, compared by the contract's tolerant majority like any image digest:

- lanes 0-1, perceptual: PROBES (one fixed (class, seed) prompt per digit) are sampled from the
  checkpoint with the model's deterministic sampler (DDIM, PROBE_STEPS steps) and tiled into one
  contact sheet, digested with the built-in image scheme ``phash64+sample192``; lane 0 is its
  pHash, lane 1 the first 64 of its 192 graded sample bits (each bit is independent, so any 64
  of them are as graded as the 192).
- lanes 2-3, the weight sketch, of the round's weight update ``delta = end - start`` (the
  round's start being the canonical checkpoint every member began from): PROJECTIONS sparse
  +-1 projections over SKETCH_COORDINATES pseudo-random coordinates each (positions and signs from
  sha256 in counter mode, so every machine computes the same ones). Lane 2 holds the signs of 64
  projections (SimHash: the distance grows with the angle between two updates); lane 3 a dithered
  quantisation of 64 others, ``floor(p / q + offset) mod 2`` with the step
  ``q = QUANTUM * learning_rate * sqrt(SKETCH_COORDINATES)`` (the distance grows with the
  difference in the update's size as well as its direction, up to 32 expected bits).

Honest members (other thread counts, micro-batching, hardware noise) produce updates that differ
by about 1e-5..1e-3 of their size and probes that differ in a few 8-bit pixel values, so every
lane moves by a few bits at most; fewer steps, a lower learning rate, skipped batches, a subset of
the data or a resubmitted start checkpoint change the update by tens of percent and the probes
almost everywhere. ROUND_TOLERANCE is calibrated by the training study
(reports/study/TRAINING.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch

from inference.determinism import deterministic
from inference.digests import Tolerance, digest_from_lanes, digest_image, lane_values
from inference.digits.sampling import contact_sheet, sample_batch
from inference.graded import sha256_stream
from inference.training.checkpoint import Weights, checkpoint_sha256, load_checkpoint, unet_from

PROBES: tuple[tuple[int, int], ...] = tuple((digit, 16_000 + digit) for digit in range(10))
"""(class, seed) of the probe generations: one per digit."""
PROBE_STEPS = 10
PROBE_SCHEDULER = "ddim"
PROBE_COLUMNS = 5
PROBE_SCHEME = "phash64+sample192"
PROJECTIONS = 128
SKETCH_COORDINATES = 2048
QUANTUM = 0.25
_SKETCH_TAG = b"genoracle.training.sketch.v1"
ROUND_TOLERANCE = Tolerance.of(4, 19, 8, 11)
"""Per-lane thresholds (probe pHash, probe samples, update signs, update quantised): the largest
honest synchronised distance of the training study's calibration task plus 4/8/8/8 bits
(reports/study/TRAINING.md; held-out impostors were at least 25 bits away in lane 1 or 27 in
lane 3)."""


@dataclass(frozen=True)
class RoundDigest:
    """A member's commitment for one round: the graded digest and the checkpoint's sha256."""

    digest: bytes
    checkpoint_sha256: str
    probes: npt.NDArray[np.uint8]
    """The (len(PROBES), 16, 16) probe generations (kept for reports, not committed)."""


def flatten(weights: Weights) -> torch.Tensor:
    """Every floating tensor of a state dict, keys sorted, as one float64 vector."""
    return torch.cat(
        [
            weights[k].detach().flatten().double()
            for k in sorted(weights)
            if weights[k].is_floating_point()
        ]
    )


@lru_cache(maxsize=4)
def sketch_plan(size: int) -> tuple[torch.Tensor, torch.Tensor, npt.NDArray[np.float64]]:
    """(indices, signs) of shape (PROJECTIONS, SKETCH_COORDINATES) into a vector of `size`
    values, and the PROJECTIONS dither offsets in [0, 1)."""
    words = np.asarray(
        sha256_stream(_SKETCH_TAG + size.to_bytes(8, "big"), PROJECTIONS * SKETCH_COORDINATES),
        dtype=np.uint64,
    )
    indices = torch.from_numpy(((words >> np.uint64(1)) % np.uint64(size)).astype(np.int64))
    signs = torch.from_numpy(np.where(words & np.uint64(1), 1.0, -1.0))
    offsets = np.asarray(
        [w / 2.0**64 for w in sha256_stream(_SKETCH_TAG + b".offsets", PROJECTIONS)],
        dtype=np.float64,
    )
    shape = (PROJECTIONS, SKETCH_COORDINATES)
    return indices.view(shape), signs.view(shape), offsets


def projections(delta: torch.Tensor) -> npt.NDArray[np.float64]:
    """The PROJECTIONS sparse +-1 projections of a flattened weight update."""
    indices, signs, _ = sketch_plan(int(delta.numel()))
    values = delta.double()[indices.flatten()].view(indices.shape)
    return np.asarray((values * signs).sum(dim=1).numpy(), dtype=np.float64)


def _bits(flags: npt.NDArray[np.bool_]) -> int:
    value = 0
    for flag in flags.tolist():
        value = (value << 1) | int(flag)
    return value


def sketch_lanes(delta: torch.Tensor, learning_rate: float) -> tuple[int, int]:
    """Lane 2 (signs of projections 0..63) and lane 3 (dithered quantisation of 64..127)."""
    projected = projections(delta)
    _, _, offsets = sketch_plan(int(delta.numel()))
    step = QUANTUM * learning_rate * math.sqrt(SKETCH_COORDINATES)
    signs = projected[:64] > 0.0
    levels = np.floor(projected[64:] / step + offsets[64:]).astype(np.int64)
    return _bits(signs), _bits((levels & 1).astype(bool))


def probe_images(weights: Weights, threads: int = 1) -> npt.NDArray[np.uint8]:
    """The probe generations of a checkpoint, in the determinism context at `threads`."""
    with deterministic(threads):
        unet = unet_from(weights).eval()
        return sample_batch(
            unet,
            [c for c, _ in PROBES],
            [s for _, s in PROBES],
            steps=PROBE_STEPS,
            scheduler=PROBE_SCHEDULER,
        )


def assemble_digest(
    probes: npt.NDArray[np.uint8], end: Weights, start: Weights, learning_rate: float
) -> bytes:
    """The four lanes from a checkpoint's probe generations and its update over `start`."""
    sheet = digest_image(contact_sheet(probes, PROBE_COLUMNS), PROBE_SCHEME)
    lane0, lane1, _, _ = lane_values(sheet)
    lane2, lane3 = sketch_lanes(flatten(end) - flatten(start), learning_rate)
    return digest_from_lanes([lane0, lane1, lane2, lane3])


def round_digest(
    checkpoint: bytes, start: bytes, learning_rate: float, threads: int = 1
) -> RoundDigest:
    """The digest of a round's checkpoint against the checkpoint the round started from."""
    end_weights = load_checkpoint(checkpoint)
    probes = probe_images(end_weights, threads)
    digest = assemble_digest(probes, end_weights, load_checkpoint(start), learning_rate)
    return RoundDigest(digest, checkpoint_sha256(checkpoint), probes)
