"""Digest lanes, the agreement rule, every image scheme (pinned), and the text digest."""

from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import imagehash
import numpy as np
import pytest
from inference_images import make_image
from PIL import Image
from web3 import Web3

from inference.digests import (
    IMAGE_SCHEMES,
    INVALID_INPUT_DIGEST,
    Tolerance,
    digest_file,
    digest_from_lanes,
    digest_hex,
    digest_image,
    digest_tokens,
    digests_agree,
    fine64,
    lane_distances,
    lane_values,
    near_constant,
    parse_digest_hex,
)
from inference.errors import InvalidInputError, UnknownSchemeError
from inference.graded import graded_positions

# Pinned like imagehash pins its own values: a change here means verifiers would disagree.
GOLDEN = {
    0: {
        "phash64": "0xeb69afa4a52e9442000000000000000000000000000000000000000000000000",
        "phash64+dhash64": "0xeb69afa4a52e9442030101018000014200000000000000000000000000000000",
        "phash64+fine64": "0xeb69afa4a52e9442c2ed3ec521d855ee00000000000000000000000000000000",
        "phash64+sample192": ("0xeb69afa4a52e9442022786f71d85debfcc46e433eb4e29aa30be2cbad5ced55a"),
        "phash256": "0xeb4d69f5afd8a40c25412e3c962442a752f50e1de533c3fea03c9bf9f8180f64",
    },
    1: {
        "phash64": "0x8b7ee48735e112c6000000000000000000000000000000000000000000000000",
        "phash64+dhash64": "0x8b7ee48735e112c63420291a7568438c00000000000000000000000000000000",
        "phash64+fine64": "0x8b7ee48735e112c66370af1c1bbafeda00000000000000000000000000000000",
        "phash64+sample192": ("0x8b7ee48735e112c6b30ca21da049d143520d750cc0868cf0bc32ff87d5433e6e"),
        "phash256": "0x8bbd7e94e4cd87c335d0e940121de6916f8397b07f40da503aa2b7e3f0c3470b",
    },
}


def test_invalid_input_digest_is_the_contract_constant() -> None:
    assert bytes(Web3.keccak(text="genoracle.invalid-input")) == INVALID_INPUT_DIGEST
    assert INVALID_INPUT_DIGEST.hex() == (
        "c123a47365249a47e4ce479c91da928668def21181c5244a6f5e6e9cb71aba82"
    )


def test_lane_zero_is_the_most_significant() -> None:
    digest = digest_from_lanes([1, 2, 3, 4])
    assert digest[:8] == (1).to_bytes(8, "big")
    assert digest[24:] == (4).to_bytes(8, "big")
    assert lane_values(digest) == (1, 2, 3, 4)
    assert parse_digest_hex(digest_hex(digest)) == digest


def test_tolerance_packs_lane_zero_in_the_top_byte() -> None:
    tolerance = Tolerance.of(10, 4)
    assert tolerance.to_uint32() == 0x0A040000
    assert Tolerance.from_uint32(0x0A040003) == Tolerance((10, 4, 0, 3))
    with pytest.raises(ValueError, match=r"outside 0\.\.255"):
        Tolerance.of(256)
    with pytest.raises(ValueError, match="not a uint32"):
        Tolerance.from_uint32(1 << 32)


def test_agreement_is_per_lane_and_inclusive() -> None:
    a = digest_from_lanes([0, 0, 0, 0])
    b = digest_from_lanes([0b1111, 0b1, 0, 0])
    assert lane_distances(a, b) == (4, 1, 0, 0)
    assert digests_agree(a, b, Tolerance.of(4, 1))
    assert not digests_agree(a, b, Tolerance.of(3, 1))
    assert not digests_agree(a, b, Tolerance.of(64, 0))
    assert digests_agree(a, a, Tolerance.of(0, 0, 0, 0))


def test_digest_length_is_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        lane_distances(b"\x00" * 31, b"\x00" * 32)


@pytest.mark.parametrize("index", sorted(GOLDEN))
@pytest.mark.parametrize("scheme", sorted(IMAGE_SCHEMES))
def test_golden_image_digests(index: int, scheme: str) -> None:
    assert digest_hex(digest_image(make_image(index), scheme)) == GOLDEN[index][scheme]


@pytest.mark.parametrize("index", range(12))
def test_lanes_are_the_imagehash_values(index: int) -> None:
    image = make_image(index)
    lanes = lane_values(digest_image(image, "phash64+dhash64"))
    assert f"{lanes[0]:016x}" == str(imagehash.phash(image))
    assert f"{lanes[1]:016x}" == str(imagehash.dhash(image))
    assert lanes[2:] == (0, 0)
    assert digest_image(image, "phash256").hex() == str(imagehash.phash(image, hash_size=16))


def test_png_bytes_and_files_digest_like_the_image(tmp_path: Path) -> None:
    image = make_image(3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = tmp_path / "x.png"
    path.write_bytes(buffer.getvalue())
    assert digest_image(buffer.getvalue()) == digest_image(image) == digest_file(path)


def test_unreadable_bytes_and_unknown_scheme_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a readable image"):
        digest_image(b"not a png")
    with pytest.raises(UnknownSchemeError, match="phash64"):
        digest_image(make_image(0), "md5")


def _perturbed(pixels: np.ndarray, count: int, delta: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    changed = pixels.astype(int)
    rows, cols = rng.integers(0, pixels.shape[0], count), rng.integers(0, pixels.shape[1], count)
    changed[rows, cols] += delta * rng.choice([-1, 1], (count, 1))
    return Image.fromarray(np.clip(changed, 0, 255).astype(np.uint8))


def test_fine_lane_separates_rounding_noise_from_changed_pixels() -> None:
    """Why the fine lane exists: changes that keep the pHash still move it by about 32 bits."""
    pixels = np.asarray(make_image(1).convert("RGB").resize((128, 128)))
    original = digest_image(Image.fromarray(pixels), "phash64+fine64")
    assert digest_image(Image.fromarray(pixels.copy()), "phash64+fine64") == original
    # An honest variant: one pixel off by one level.
    honest = lane_distances(original, digest_image(_perturbed(pixels, 1, 1, 0), "phash64+fine64"))
    assert honest[1] <= 1
    # A different computation: small changes everywhere.
    cheap = lane_distances(original, digest_image(_perturbed(pixels, 8000, 3, 1), "phash64+fine64"))
    assert cheap[0] <= 4
    assert cheap[1] >= 16
    assert not digests_agree(
        original, _digest_of(pixels, 8000), IMAGE_SCHEMES["phash64+fine64"].default_tolerance
    )


def _digest_of(pixels: np.ndarray, count: int) -> bytes:
    return digest_image(_perturbed(pixels, count, 3, 1), "phash64+fine64")


def _graded_distance(pixels: np.ndarray, count: int, seed: int) -> int:
    original = digest_image(Image.fromarray(pixels), "phash64+sample192")
    return sum(lane_distances(original, _digest_of_changed(pixels, count, seed))[1:])


def _digest_of_changed(pixels: np.ndarray, count: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    changed = pixels.astype(int).reshape(-1)
    where = rng.choice(changed.size, count, replace=False)
    changed[where] += rng.choice([-1, 1], count)
    image = Image.fromarray(np.clip(changed, 0, 255).astype(np.uint8).reshape(pixels.shape))
    return digest_image(image, "phash64+sample192")


def test_graded_lanes_move_with_the_size_of_the_change() -> None:
    """The graded lanes' distance grows with how many values changed (by one level each): no
    change moves nothing, a few move a few bits, many move many, and lane 0 is the pHash."""
    pixels = np.asarray(make_image(1).convert("RGB").resize((128, 128)))
    size = pixels.size
    means = [
        np.mean([_graded_distance(pixels, int(size * share), seed) for seed in range(4)])
        for share in (0.0, 0.01, 0.05, 0.2, 0.5)
    ]
    assert means[0] == 0
    assert all(a < b for a, b in itertools.pairwise(means)), means
    assert means[1] < 12 and means[-1] > 60
    lanes = lane_values(digest_image(make_image(1), "phash64+sample192"))
    assert f"{lanes[0]:016x}" == str(imagehash.phash(make_image(1)))


def test_graded_lanes_read_the_same_positions_on_every_machine() -> None:
    """Positions and bits come from sha256 in counter mode, never from a library's RNG."""
    assert graded_positions(64 * 64 * 3)[:4].tolist() == [3164, 7922, 3625, 10286]
    assert graded_positions(3).max() <= 2  # a tiny image is read with repeats


def test_fine_lane_handles_tiny_images() -> None:
    assert fine64(Image.new("RGB", (3, 3))) == fine64(Image.new("RGB", (3, 3)))
    assert fine64(Image.new("RGB", (3, 3))) != fine64(Image.new("RGB", (3, 3), (1, 0, 0)))


def test_near_constant_images_are_flagged() -> None:
    assert near_constant(Image.new("RGB", (64, 64), (120, 30, 200)))
    assert near_constant(make_image(3))  # the corpus' near-flat kind
    assert not near_constant(make_image(0))


def test_token_digest_encoding_is_pinned() -> None:
    assert digest_tokens([1, 2, 3]).hex() == (
        "7b0b5ea3ff36958c8e32ccf24b71da9ac68e51d0881bf75e62b837ec9ea6f3a5"
    )
    encoded = bytes.fromhex("000000010000000200000003")
    assert digest_tokens([1, 2, 3]) == hashlib.sha256(encoded).digest()
    assert digest_tokens([1, 2]) != digest_tokens([2, 1])
    with pytest.raises(ValueError, match="32-bit"):
        digest_tokens([-1])
