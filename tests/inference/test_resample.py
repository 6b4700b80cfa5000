"""The compiled LANCZOS resize must reproduce Pillow's pixels exactly, whatever the sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.bulk import resample
from inference.bulk.resample import lanczos_coefficients, lanczos_resize_l

SIZES = [9, 17, 31, 32, 33, 45, 64, 100, 187, 256, 300, 513]


def _pillow(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(grey, "L").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(image)


@pytest.mark.parametrize("rows", SIZES)
def test_resize_matches_pillow_for_every_shape(rows: int) -> None:
    rng = np.random.default_rng(rows)
    for columns in SIZES:
        noise = rng.integers(0, 256, (rows, columns), dtype=np.uint8)
        smooth = (np.cumsum(noise, axis=1) // np.arange(1, columns + 1)).astype(np.uint8)
        for grey in (noise, smooth):
            for width, height in ((32, 32), (16, 16), (9, 8), (64, 40)):
                assert np.array_equal(
                    lanczos_resize_l(grey, width, height), _pillow(grey, width, height)
                ), (rows, columns, width, height)


def test_same_size_is_a_copy() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    copy = lanczos_resize_l(grey, 8, 8)
    assert np.array_equal(copy, grey) and copy is not grey


def test_coefficients_are_pillows_fixed_point_taps() -> None:
    """Pillow's own integer resize of an impulse returns round(tap * 2**22) for each output."""
    starts, counts, taps = lanczos_coefficients(256, 32)
    assert taps[:, : counts.max()].sum(axis=1).tolist() == pytest.approx([1 << 22] * 32, abs=64)
    impulse = np.zeros((1, 256), dtype=np.int32)
    impulse[0, 100] = 1 << 22
    image = Image.fromarray(impulse, "I").resize((32, 1), Image.Resampling.LANCZOS)
    pillow = np.asarray(image, dtype=np.int64)[0]
    for out in range(32):
        index = 100 - starts[out]
        ours = int(taps[out, index]) if 0 <= index < counts[out] else 0
        assert ours == pillow[out]


def test_an_unknown_order_falls_back_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    grey = np.random.default_rng(0).integers(0, 256, (70, 50), dtype=np.uint8)
    monkeypatch.setitem(resample._ORDERS, (70, 50, 32, 32), None)
    assert np.array_equal(lanczos_resize_l(grey, 32, 32), _pillow(grey, 32, 32))
