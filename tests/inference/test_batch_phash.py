"""Batch pHash must give imagehash's bits exactly, on a corpus of varied images."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from inference_images import corpus

from inference.bulk.batch_phash import phash64_batch, phash_bits_batch
from inference.digests import phash64

CORPUS_SIZE = 1200


@pytest.fixture(scope="module")
def images() -> list:  # type: ignore[type-arg]
    return corpus(CORPUS_SIZE)


def test_corpus_is_varied(images: list) -> None:  # type: ignore[type-arg]
    modes = {image.mode for image in images}
    assert {"RGB", "RGBA", "L", "P", "LA", "1"} <= modes
    sizes = {image.size for image in images}
    assert len(sizes) > 500
    assert min(min(size) for size in sizes) < 32 < max(max(size) for size in sizes)


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_phash_is_bit_identical_to_imagehash(images: list, threads: int) -> None:  # type: ignore[type-arg]
    bits = phash_bits_batch(images, threads=threads)
    mismatches = [
        index
        for index, image in enumerate(images)
        if not np.array_equal(bits[index], imagehash.phash(image).hash)
    ]
    assert mismatches == []


def test_batch_phash256_and_packed_values(images: list) -> None:  # type: ignore[type-arg]
    subset = images[:200]
    bits = phash_bits_batch(subset, hash_size=16)
    for index, image in enumerate(subset):
        assert np.array_equal(bits[index], imagehash.phash(image, hash_size=16).hash)
    values = phash64_batch(subset)
    assert [int(v) for v in values] == [phash64(image) for image in subset]


def test_empty_batch_and_bad_hash_size() -> None:
    assert phash_bits_batch([]).shape == (0, 8, 8)
    with pytest.raises(ValueError, match="at least 2"):
        phash_bits_batch([], hash_size=1)
