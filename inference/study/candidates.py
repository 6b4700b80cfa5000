"""Candidate graded lanes the noise study compares with the registered ``sample_bits``.

Quantised random projections (an LSH for the L2 size of a change) and quantised block means (an
LSH for the change of each region's mean). Same integer-only construction as
``inference.graded``; not on a node's path.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.digests import fine_regions
from inference.graded import GRADED_VALUES, sha256_stream

_GRADED_TAG = b"genoracle.graded.v1"


@lru_cache(maxsize=16)
def _projection(bits: int, width: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """+-1 projection rows (bits x GRADED_VALUES) and offsets in [0, width) of the proj lanes."""
    tag = _GRADED_TAG + b".projection"
    words = np.asarray(sha256_stream(tag, bits * GRADED_VALUES // 64), dtype=np.uint64)
    signs = np.unpackbits(words.view(">u8").view(np.uint8)).reshape(bits, GRADED_VALUES)
    offsets = sha256_stream(_GRADED_TAG + b".offsets" + width.to_bytes(4, "big"), bits)
    return (
        signs.astype(np.float64) * 2 - 1,
        np.asarray([o % width for o in offsets], dtype=np.int64),
    )


def proj_bits(values: npt.NDArray[np.int64], width: int, bits: int = 192) -> int:
    """Quantised random projections: bit i is the parity of floor((a_i . v + o_i) / width).

    A change d of the values moves projection i by a_i . d, a Gaussian-like shift whose size is
    the L2 norm of d; the bit flips with probability |shift| / width while the shift is under
    width, so the expected Hamming distance grows with the size of the change (an LSH for L2).
    Integer arithmetic only: every machine computes the same bits."""
    signs, offsets = _projection(bits, width)
    # float64 products of integers this small are exact whatever the summation order (every
    # partial sum stays below 2**53), so BLAS gives every machine the same integers.
    projected = np.rint(signs @ values.astype(np.float64)).astype(np.int64) + offsets
    parity = ((projected // width) & 1).astype(np.uint8)
    return int.from_bytes(np.packbits(parity).tobytes(), "big")


def block_bits(image: Image.Image, width: int, bits: int = 192) -> int:
    """Quantised block means: 64 blocks (8 x 8 grid) of the grey image, each read at three
    offsets; bit = parity of floor((16 * mean + offset) / width) (an LSH for the block means)."""
    grey = np.asarray(image.convert("L"), dtype=np.int64)
    height, width_px = grey.shape
    means = []
    for top, bottom, left, right in fine_regions(height, width_px):
        region = grey[top : max(bottom, top + 1), left : max(right, left + 1)]
        means.append(int(region.sum()) * 16 // max(1, region.size))
    offsets = sha256_stream(_GRADED_TAG + b".blocks" + width.to_bytes(4, "big"), bits)
    out = 0
    for i in range(bits):
        out = (out << 1) | (((means[i % 64] + offsets[i] % width) // width) & 1)
    return out
