"""Graded lanes: bits whose Hamming distance grows with the size of a change to an image.

The values read are GRADED_VALUES 8-bit RGB channel values at fixed pseudo-random positions (one
choice per image size); ``sample_bits`` hashes groups of them, so a bit flips with probability
1/2 when any value of its group changed and the expected distance grows with the share of changed
values. Positions and bits come from sha256 in counter mode and integer arithmetic only (never a
library's random generator), so every machine computes the same bits.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha256

import numpy as np
import numpy.typing as npt
from PIL import Image

LANE_BITS = 64
_LANE_MASK = (1 << LANE_BITS) - 1

GRADED_VALUES = 4096
"""How many 8-bit values (pixel channels at pseudo-random positions) the graded lanes read."""
_GRADED_TAG = b"genoracle.graded.v1"


def sha256_stream(tag: bytes, count: int) -> list[int]:
    """`count` 64-bit words of sha256 in counter mode: portable pseudo-random numbers."""
    words: list[int] = []
    block = 0
    while len(words) < count:
        digest = sha256(tag + block.to_bytes(4, "big")).digest()
        words.extend(int.from_bytes(digest[i : i + 8], "big") for i in range(0, 32, 8))
        block += 1
    return words[:count]


@lru_cache(maxsize=64)
def graded_positions(size: int, count: int = GRADED_VALUES) -> npt.NDArray[np.int64]:
    """Positions (into the flattened H x W x 3 RGB bytes, `size` of them) the graded lanes read:
    a fixed pseudo-random choice per image size, with repeats when the image is small."""
    tag = _GRADED_TAG + b".positions" + size.to_bytes(8, "big")
    return np.asarray([word % size for word in sha256_stream(tag, count)], dtype=np.int64)


def graded_values(image: Image.Image) -> npt.NDArray[np.int64]:
    """The GRADED_VALUES 8-bit RGB channel values the graded lanes read, as int64."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8).reshape(-1)
    return pixels[graded_positions(int(pixels.size))].astype(np.int64)


def sample_bits(values: npt.NDArray[np.int64], group: int, bits: int = 192) -> int:
    """Bit sampling: bit i is the lowest bit of the sha256 of values[i*group : (i+1)*group]
    (the first bits x group values are read; their positions are already pseudo-random).

    A bit flips with probability 1/2 when any value of its group changed, so the expected
    distance is bits/2 * (1 - (1 - f)^group) for a fraction f of changed values (an LSH for the
    number of changed values)."""
    data = values.astype(np.uint8).tobytes()
    out = 0
    for i in range(bits):
        chunk = data[(i * group) % len(data) :][:group]
        out = (out << 1) | (sha256(chunk).digest()[0] & 1)
    return out


def split_lanes(value: int, lanes: int = 3) -> list[int]:
    """A lanes x 64-bit value as 64-bit lanes, the most significant first."""
    return [(value >> (LANE_BITS * (lanes - 1 - i))) & _LANE_MASK for i in range(lanes)]
