"""Digests of generated artifacts: what a verifier commits to and the contract compares.

A digest is a bytes32 made of four 64-bit lanes, lane 0 being the most significant 64 bits. A
tolerance is four 8-bit thresholds, one per lane (lane 0 in the most significant byte of its
uint32). Two digests agree when, in every lane, the Hamming distance is at most that lane's
threshold: exactly the rule `GenerationOracle` applies on chain.

Image schemes (the scheme is part of a model's manifest):

- ``phash64`` (default): lane 0 = the 64-bit pHash, bit for bit as ``imagehash.phash``.
- ``phash64+dhash64``: lane 1 = the 64-bit ``imagehash.dhash``.
- ``phash64+fine64``: lane 1 = a 64-bit SimHash of the 8-bit RGB pixels (see ``fine64``), which
  moves when the pixels move, so a cheaper computation that keeps the pHash is still caught.
- ``phash256``: the 256-bit pHash (``imagehash.phash(hash_size=16)``) over all four lanes.

An ``imagehash`` hash becomes an integer by reading its bits row by row, the first bit being the
most significant one: the same order as ``str(imagehash_value)``.

Text: the sha256 of the generated token ids, each a 4-byte big-endian unsigned integer, in order
(``digest_tokens``); it is compared with tolerance 0 in every lane.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import NamedTuple

import imagehash
import numpy as np
import numpy.typing as npt
from eth_hash.auto import keccak
from PIL import Image

from inference.errors import InvalidInputError, UnknownSchemeError

Digest = bytes
LANES = 4
LANE_BITS = 64
DIGEST_BYTES = LANES * LANE_BITS // 8
_LANE_MASK = (1 << LANE_BITS) - 1

INVALID_INPUT_DIGEST: bytes = keccak(b"genoracle.invalid-input")
"""Reserved digest: "this input is invalid for this model"; equals the contract constant."""

DEFAULT_IMAGE_SCHEME = "phash64"
TEXT_SCHEME = "sha256-tokens"

NEAR_CONSTANT_STD = 2.0
"""Standard deviation (8-bit grey levels) of pHash's 32x32 input below which its bits are noise."""


class Tolerance(NamedTuple):
    """One Hamming-distance threshold per lane, each 0..255 (encoded on chain as a uint32)."""

    lanes: tuple[int, int, int, int]

    def to_uint32(self) -> int:
        """Pack with lane 0 in the most significant byte, as the contract reads it."""
        value = 0
        for threshold in self.lanes:
            value = (value << 8) | threshold
        return value

    @classmethod
    def from_uint32(cls, value: int) -> Tolerance:
        """Unpack a contract tolerance (lane 0 in the most significant byte)."""
        if not 0 <= value < 1 << 32:
            raise ValueError(f"tolerance {value} is not a uint32")
        return cls.of(*((value >> shift) & 0xFF for shift in (24, 16, 8, 0)))

    @classmethod
    def of(cls, *thresholds: int) -> Tolerance:
        """Build from up to four thresholds (missing lanes get 0) after checking their range."""
        if len(thresholds) > LANES:
            raise ValueError(f"a tolerance has {LANES} lanes, got {len(thresholds)} thresholds")
        padded = [*thresholds, *([0] * (LANES - len(thresholds)))]
        for threshold in padded:
            if not 0 <= threshold <= 255:
                raise ValueError(f"lane threshold {threshold} is outside 0..255")
        return cls((padded[0], padded[1], padded[2], padded[3]))

    def __str__(self) -> str:
        return "/".join(str(t) for t in self.lanes)


def _check_digest(digest: bytes) -> None:
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"a digest has {DIGEST_BYTES} bytes, got {len(digest)}")


def lane_values(digest: bytes) -> tuple[int, int, int, int]:
    """The four 64-bit lanes of a digest, lane 0 first (the most significant bits)."""
    _check_digest(digest)
    value = int.from_bytes(digest, "big")
    return (
        (value >> 192) & _LANE_MASK,
        (value >> 128) & _LANE_MASK,
        (value >> 64) & _LANE_MASK,
        value & _LANE_MASK,
    )


def digest_from_lanes(lanes: Sequence[int]) -> bytes:
    """Assemble a digest from up to four 64-bit lanes (missing lanes are zero)."""
    if len(lanes) > LANES:
        raise ValueError(f"a digest has {LANES} lanes, got {len(lanes)}")
    value = 0
    for index in range(LANES):
        lane = lanes[index] if index < len(lanes) else 0
        if not 0 <= lane <= _LANE_MASK:
            raise ValueError(f"lane {index} value {lane} does not fit 64 bits")
        value = (value << LANE_BITS) | lane
    return value.to_bytes(DIGEST_BYTES, "big")


def lane_distances(a: bytes, b: bytes) -> tuple[int, int, int, int]:
    """Per-lane Hamming distances between two digests, lane 0 first."""
    la, lb = lane_values(a), lane_values(b)
    return (
        (la[0] ^ lb[0]).bit_count(),
        (la[1] ^ lb[1]).bit_count(),
        (la[2] ^ lb[2]).bit_count(),
        (la[3] ^ lb[3]).bit_count(),
    )


def digests_agree(a: bytes, b: bytes, tolerance: Tolerance) -> bool:
    """True iff each lane's Hamming distance is within its threshold (the contract rule)."""
    return all(d <= t for d, t in zip(lane_distances(a, b), tolerance.lanes, strict=True))


def digest_hex(digest: bytes) -> str:
    """``0x`` and 64 lowercase hex digits, the form used on chain and by the CLI."""
    _check_digest(digest)
    return "0x" + digest.hex()


def parse_digest_hex(text: str) -> bytes:
    """Inverse of ``digest_hex``; accepts the hex with or without ``0x``."""
    body = text[2:] if text.lower().startswith("0x") else text
    try:
        digest = bytes.fromhex(body)
    except ValueError as exc:
        raise ValueError(f"digest {text!r} is not hex") from exc
    _check_digest(digest)
    return digest


# ---------------------------------------------------------------------------------------------
# Image hashes
# ---------------------------------------------------------------------------------------------


def bits_to_int(bits: npt.NDArray[np.bool_]) -> int:
    """An imagehash bit array read row by row, the first bit most significant."""
    flat = np.asarray(bits, dtype=bool).ravel()
    return int.from_bytes(np.packbits(flat).tobytes(), "big") >> (-flat.size % 8)


def phash64(image: Image.Image) -> int:
    """The 64-bit pHash, identical to ``imagehash.phash(image)``."""
    return bits_to_int(imagehash.phash(image).hash)


def dhash64(image: Image.Image) -> int:
    """The 64-bit dHash, identical to ``imagehash.dhash(image)``."""
    return bits_to_int(imagehash.dhash(image).hash)


def phash256(image: Image.Image) -> int:
    """The 256-bit pHash, identical to ``imagehash.phash(image, hash_size=16)``."""
    return bits_to_int(imagehash.phash(image, hash_size=16).hash)


_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_MUL2 = np.uint64(0x94D049BB133111EB)
_FINE_CHUNK = 1 << 16


def fine64_projection_words(start: int, count: int) -> npt.NDArray[np.uint64]:
    """The fixed SimHash projection: one 64-bit sign word per pixel value position.

    Word i is SplitMix64's i-th output from state 0: ``mix((i + 1) * 0x9E3779B97F4A7C15)`` with
    the standard SplitMix64 finaliser. Bit j (j = 0 the most significant) set means weight +1
    for output bit j, clear means -1.
    """
    index = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    z = index * _SPLITMIX_GAMMA
    z = (z ^ (z >> np.uint64(30))) * _SPLITMIX_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SPLITMIX_MUL2
    return z ^ (z >> np.uint64(31))


def fine64(image: Image.Image) -> int:
    """A 64-bit SimHash of the 8-bit RGB pixels, computed in exact integer arithmetic.

    The pixels ``p_i`` (RGB, row-major, alpha dropped) are centred as ``c_i = N * p_i - sum(p)``
    so that only the image's structure counts, and bit j (most significant first) is set iff
    ``sum_i c_i * w_ij > 0`` with ``w_ij = +-1`` from ``fine64_projection_words``. Because every
    partial sum is an integer below 2**53, float64 matrix products give the exact value on any
    CPU. Small honest noise rarely moves a sum across zero; a different computation moves many.
    """
    pixels = np.asarray(image.convert("RGB"), dtype=np.int64).ravel()
    count = pixels.size
    centred = (count * pixels - int(pixels.sum())).astype(np.float64)
    sums = np.zeros(LANE_BITS, dtype=np.float64)
    for start in range(0, count, _FINE_CHUNK):
        stop = min(start + _FINE_CHUNK, count)
        words = fine64_projection_words(start, stop - start)
        signs = np.unpackbits(words.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
        # Only the +1 weights are summed: sum(c * w) = 2 * sum(c where w = +1) since sum(c) = 0.
        sums += centred[start:stop] @ signs.astype(np.float64)
    return bits_to_int(sums > 0)


def near_constant(image: Image.Image) -> bool:
    """True when the image is so flat that its pHash bits are decided by rounding noise."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    return float(grey.std()) < NEAR_CONSTANT_STD


@dataclass(frozen=True)
class DigestScheme:
    """A named way to turn an image into the lanes of a digest, with default tolerances."""

    name: str
    lanes: tuple[str, ...]
    default_tolerance: Tolerance
    max_tolerance: Tolerance
    compute: Callable[[Image.Image], bytes]


def _scheme_phash64(image: Image.Image) -> bytes:
    return digest_from_lanes([phash64(image)])


def _scheme_phash64_dhash64(image: Image.Image) -> bytes:
    return digest_from_lanes([phash64(image), dhash64(image)])


def _scheme_phash64_fine64(image: Image.Image) -> bytes:
    return digest_from_lanes([phash64(image), fine64(image)])


def _scheme_phash256(image: Image.Image) -> bytes:
    return phash256(image).to_bytes(DIGEST_BYTES, "big")


# Default tolerances are starting points; each model's manifest carries its own (calibrated by
# the study), and the contract holds the per-model defaults. This is the only table of them.
IMAGE_SCHEMES: dict[str, DigestScheme] = {
    scheme.name: scheme
    for scheme in (
        DigestScheme("phash64", ("phash64",), Tolerance.of(10), Tolerance.of(32), _scheme_phash64),
        DigestScheme(
            "phash64+dhash64",
            ("phash64", "dhash64"),
            Tolerance.of(10, 10),
            Tolerance.of(32, 32),
            _scheme_phash64_dhash64,
        ),
        DigestScheme(
            "phash64+fine64",
            ("phash64", "fine64"),
            Tolerance.of(10, 4),
            Tolerance.of(32, 32),
            _scheme_phash64_fine64,
        ),
        DigestScheme(
            "phash256",
            ("phash256[0:64]", "phash256[64:128]", "phash256[128:192]", "phash256[192:256]"),
            Tolerance.of(12, 12, 12, 12),
            Tolerance.of(32, 32, 32, 32),
            _scheme_phash256,
        ),
    )
}

TEXT_TOLERANCE = Tolerance.of(0, 0, 0, 0)


def scheme_default_tolerance(scheme: str) -> Tolerance:
    """The starting tolerance of a scheme (text schemes: exact match)."""
    if scheme == TEXT_SCHEME:
        return TEXT_TOLERANCE
    return get_image_scheme(scheme).default_tolerance


def scheme_max_tolerance(scheme: str) -> Tolerance:
    """The largest tolerance a requester may ask for under a scheme."""
    if scheme == TEXT_SCHEME:
        return TEXT_TOLERANCE
    return get_image_scheme(scheme).max_tolerance


def get_image_scheme(name: str) -> DigestScheme:
    """Look a scheme up by name, failing with the list of known ones."""
    try:
        return IMAGE_SCHEMES[name]
    except KeyError:
        known = ", ".join(sorted(IMAGE_SCHEMES))
        raise UnknownSchemeError(f"unknown image digest scheme {name!r}; known: {known}") from None


def load_image(data: bytes) -> Image.Image:
    """Decode image bytes fully, turning decoder failures into InvalidInputError."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(f"not a readable image: {exc}") from exc
    return image


def digest_image(image: Image.Image | bytes, scheme: str = DEFAULT_IMAGE_SCHEME) -> bytes:
    """The digest of an image (a PIL image or encoded bytes such as PNG) under a scheme."""
    chosen = get_image_scheme(scheme)
    picture = load_image(image) if isinstance(image, bytes | bytearray) else image
    return chosen.compute(picture)


def digest_tokens(token_ids: Sequence[int]) -> bytes:
    """sha256 over the token ids, each encoded as a 4-byte big-endian unsigned integer."""
    encoded = bytearray()
    for token in token_ids:
        if not 0 <= token < 1 << 32:
            raise ValueError(f"token id {token} does not fit an unsigned 32-bit integer")
        encoded += token.to_bytes(4, "big")
    return sha256(bytes(encoded)).digest()


def digest_file(path: str | Path, scheme: str = DEFAULT_IMAGE_SCHEME) -> bytes:
    """The digest of an image file under a scheme (the default one unless told)."""
    return digest_image(Path(path).read_bytes(), scheme)
