"""A reproducible corpus of varied test images: photo-like, noise, gradients, near-flat,
odd sizes, and every common PIL mode (RGB, RGBA, L, P, 1, LA)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("photo", "noise", "gradient", "near-flat", "flat", "shapes", "stripes")
MODES = ("RGB", "RGB", "RGB", "RGBA", "L", "P", "LA", "1")


def _photo_like(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Low-frequency colour fields plus a little noise: pHash behaves as on real photos."""
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(base, dtype=np.int16) + rng.integers(-6, 7, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def make_image(index: int) -> Image.Image:
    """The index-th image of the corpus (same index, same image, on every machine)."""
    rng = np.random.default_rng(1000 + index)
    kind = KINDS[index % len(KINDS)]
    height = int(rng.integers(9, 300)) if index % 3 else int(rng.choice([32, 64, 256]))
    width = int(rng.integers(9, 300)) if index % 3 else height
    if kind == "photo":
        pixels = _photo_like(rng, height, width)
    elif kind == "noise":
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind == "gradient":
        ys = np.linspace(0, 1, height)[:, None, None]
        xs = np.linspace(0, 1, width)[None, :, None]
        mix = rng.random(3) * ys + rng.random(3) * xs
        pixels = (255 * mix / max(float(mix.max()), 1e-9)).astype(np.uint8)
    elif kind == "near-flat":
        level = int(rng.integers(0, 250))
        pixels = (level + rng.integers(0, 3, (height, width, 3))).astype(np.uint8)
    elif kind == "flat":
        pixels = np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    elif kind == "stripes":
        period = int(rng.integers(2, 20))
        row = ((np.arange(width) // period) % 2 * 255).astype(np.uint8)
        pixels = np.repeat(np.repeat(row[None, :, None], height, 0), 3, 2)
    else:
        canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(1, 8))):
            box = sorted(rng.integers(0, max(width, height), 4).tolist())
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.ellipse((box[0], box[1], box[2], box[3]), fill=colour)
        pixels = np.asarray(canvas.filter(ImageFilter.GaussianBlur(float(rng.random()) * 2)))
    image = Image.fromarray(pixels, "RGB")
    mode = MODES[(index // len(KINDS)) % len(MODES)]
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L")
        image = image.convert("RGBA")
        image.putalpha(alpha)
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=int(rng.integers(2, 256)))
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def corpus(count: int) -> list[Image.Image]:
    """The first ``count`` images."""
    return [make_image(index) for index in range(count)]
