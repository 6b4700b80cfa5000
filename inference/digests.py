"""Digests of generated artifacts: what a verifier commits to and the contract compares.

A digest is a bytes32 made of four 64-bit lanes, lane 0 being the most significant 64 bits. A
tolerance is four 8-bit thresholds, one per lane (lane 0 in the most significant byte of its
uint32). Two digests agree when, in every lane, the Hamming distance is at most that lane's
threshold: exactly the rule `GenerationOracle` applies on chain.

Image schemes (the scheme is part of a model's manifest):

- ``phash64`` (default): lane 0 = the 64-bit pHash, bit for bit as ``imagehash.phash``.
- ``phash64+dhash64``: lane 1 = the 64-bit ``imagehash.dhash``.
- ``phash64+fine64``: lane 1 = 64 region bits of the exact 8-bit RGB pixels (see ``fine64``),
  which move when the pixels move, so a cheaper computation that keeps the pHash is caught.
- ``phash64+sample192``: lanes 1-3 = 192 graded bits (``sample192``): each bit hashes a few
  8-bit channel values read at fixed pseudo-random positions, so the expected distance grows with
  the share of values that changed. Honest hardware noise (a few values off by one) moves a few
  bits, a cheaper computation (which changes many values) moves many; chosen by the noise study
  (reports/study/NOISE.md) over quantised projections and quantised block means.
- ``phash256``: the 256-bit pHash (``imagehash.phash(hash_size=16)``) over all four lanes.

An ``imagehash`` hash becomes an integer by reading its bits row by row, the first bit being the
most significant one: the same order as ``str(imagehash_value)``.

Text: the sha256 of the generated token ids (the new tokens only, ending with the
end-of-sequence token when the model produced one), each a 4-byte big-endian unsigned integer,
in order (``digest_tokens``); it is compared with tolerance 0 in every lane by default (a task may
ask for up to ``TEXT_MAX_TOLERANCE``, which the audited mode's sketch lanes need).
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
from PIL import Image, UnidentifiedImageError

from inference.errors import InvalidInputError, UnknownSchemeError
from inference.graded import graded_values, sample_bits, split_lanes

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

    def covers(self, needed: Tolerance) -> bool:
        """Every lane's threshold at least `needed`'s: agreement at `needed` implies it here."""
        return all(t >= n for t, n in zip(self.lanes, needed.lanes, strict=True))

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


FINE_GRID = 8
"""fine64 splits the image into FINE_GRID x FINE_GRID regions, one bit each."""


def fine_regions(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the 64 regions, row by row: region (r, c) spans rows
    r*H//8 .. (r+1)*H//8 and columns c*W//8 .. (c+1)*W//8 (empty for images under 8 px)."""
    return [
        (
            r * height // FINE_GRID,
            (r + 1) * height // FINE_GRID,
            c * width // FINE_GRID,
            (c + 1) * width // FINE_GRID,
        )
        for r in range(FINE_GRID)
        for c in range(FINE_GRID)
    ]


def fine64(image: Image.Image) -> int:
    """64 region bits that follow the exact 8-bit pixels: a fine lane beside the pHash.

    The RGB pixels (alpha dropped) are cut into an 8x8 grid of regions (``fine_regions``); bit
    i (region i, the most significant bit first) is the lowest bit of the first byte of the
    sha256 of that region's pixel bytes (row-major, R G B). An identical image gives an
    identical lane; each region whose pixels changed at all flips its bit with probability
    1/2. So a rare honest one-level rounding difference moves a bit or two, while a cheaper
    computation (fewer steps, another scheduler, lower precision), which changes pixels
    everywhere, moves about 32 bits, even when its pHash is unchanged.
    """
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    height, width = pixels.shape[:2]
    value = 0
    for top, bottom, left, right in fine_regions(height, width):
        region = np.ascontiguousarray(pixels[top:bottom, left:right])
        value = (value << 1) | (sha256(region.tobytes()).digest()[0] & 1)
    return value


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


SAMPLE_GROUP = 2
"""phash64+sample192 hashes pairs of sampled channel values: the noise study chose 2 over 4 and 8
(reports/study/NOISE.md)."""


def sample192(image: Image.Image) -> int:
    """192 graded bits: each the lowest bit of the sha256 of SAMPLE_GROUP of the GRADED_VALUES
    channel values read at fixed pseudo-random positions (``sample_bits``)."""
    return sample_bits(graded_values(image), SAMPLE_GROUP)


def _scheme_phash64_sample192(image: Image.Image) -> bytes:
    return digest_from_lanes([phash64(image), *split_lanes(sample192(image))])


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
            Tolerance.of(10, 8),
            Tolerance.of(32, 32),
            _scheme_phash64_fine64,
        ),
        DigestScheme(
            "phash64+sample192",
            ("phash64", "sample192[0:64]", "sample192[64:128]", "sample192[128:192]"),
            Tolerance.of(10, 24, 24, 24),
            Tolerance.of(32, 48, 48, 48),
            _scheme_phash64_sample192,
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
TEXT_MAX_TOLERANCE = Tolerance.of(8, 8, 8, 8)
"""What a text task may ask for: room for the audited mode, whose compared digest holds 64-bit
lanes of hidden-state sketches (calibrated thresholds 4-6 bits: inference/audit/calibrated.py).
On sha256 lanes it admits no other output: two different token sequences have lanes within 8 bits
of each other by chance with probability < 3e-10 per lane, about 1e-38 for all four."""


def scheme_default_tolerance(scheme: str) -> Tolerance:
    """The starting tolerance of a scheme (text schemes: exact match)."""
    if scheme == TEXT_SCHEME:
        return TEXT_TOLERANCE
    return get_image_scheme(scheme).default_tolerance


def scheme_max_tolerance(scheme: str) -> Tolerance:
    """The largest tolerance a requester may ask for under a scheme."""
    if scheme == TEXT_SCHEME:
        return TEXT_MAX_TOLERANCE
    return get_image_scheme(scheme).max_tolerance


def get_image_scheme(name: str) -> DigestScheme:
    """Look a scheme up by name, failing with the list of known ones."""
    try:
        return IMAGE_SCHEMES[name]
    except KeyError:
        known = ", ".join(sorted(IMAGE_SCHEMES))
        raise UnknownSchemeError(f"unknown image digest scheme {name!r}; known: {known}") from None


def unreadable_image_reason(exc: BaseException) -> str:
    """Why Pillow could not read some bytes, without the buffer's repr that its "cannot
    identify image file <_io.BytesIO object at 0x...>" carries."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image: the data is in no image format Pillow reads (PNG, JPEG, ...)"
    return f"not a readable image: {exc}"


def load_image(data: bytes) -> Image.Image:
    """Decode image bytes fully, turning decoder failures into InvalidInputError."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(unreadable_image_reason(exc)) from exc
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
