"""Training data: a content-addressed set of 16x16 8-bit grey digits and their labels.

Canonical bytes (what the sha256 covers, and the file format): the magic ``GODATA1\\n``, then
the example count, height and width as 4-byte big-endian unsigned integers, then the images
(count x height x width bytes, row-major, 0 = black background, 255 = white stroke), then the
labels (count bytes, 0..9). Nothing else is in a file, so the same examples always have the same
sha256; ``load_data`` checks a file against the sha256 a task names before anything trains on it.

``demo_dataset`` builds a fine-tuning set offline from scikit-learn's bundled digits in a new
style ("thick": strokes dilated by a 3x3 maximum, a visibly bolder hand), optionally a class
subset, with a fixed-seed selection: no download.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from inference.digits.model import IMAGE_SIZE, NUM_CLASSES
from inference.errors import InferenceError

MAGIC = b"GODATA1\n"
_HEADER = len(MAGIC) + 12
MAX_EXAMPLES = 1 << 20
STYLES = ("plain", "thick")


class TrainingDataError(InferenceError, ValueError):
    """Training data that is malformed or whose sha256 differs from the one the task names."""


@dataclass(frozen=True)
class TrainingData:
    """Examples as uint8 (N, H, W) images and uint8 (N,) labels."""

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise TrainingDataError("images must be a uint8 array of shape (N, H, W)")
        if self.labels.dtype != np.uint8 or self.labels.shape != (self.images.shape[0],):
            raise TrainingDataError("labels must be a uint8 array with one label per image")
        if not 1 <= len(self) <= MAX_EXAMPLES:
            raise TrainingDataError(f"{len(self)} examples; a data set holds 1..{MAX_EXAMPLES}")
        if self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise TrainingDataError(
                f"images are {self.images.shape[1]}x{self.images.shape[2]}; Digits-Gen trains "
                f"on {IMAGE_SIZE}x{IMAGE_SIZE}"
            )
        if int(self.labels.max()) >= NUM_CLASSES:
            raise TrainingDataError(f"labels must be 0..{NUM_CLASSES - 1}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def canonical_bytes(self) -> bytes:
        count, height, width = self.images.shape
        header = MAGIC + b"".join(v.to_bytes(4, "big") for v in (count, height, width))
        return header + np.ascontiguousarray(self.images).tobytes() + self.labels.tobytes()

    def sha256(self) -> str:
        return sha256(self.canonical_bytes()).hexdigest()

    def save(self, path: Path) -> str:
        """Write the canonical bytes; returns their sha256."""
        data = self.canonical_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return sha256(data).hexdigest()


def parse_data(data: bytes, expected_sha256: str | None = None) -> TrainingData:
    """Decode canonical bytes, checking the sha256 first when one is expected."""
    if expected_sha256 is not None:
        actual = sha256(data).hexdigest()
        if actual != expected_sha256.removeprefix("0x").lower():
            raise TrainingDataError(
                f"training data has sha256 {actual}, the task names {expected_sha256}: the data "
                "was altered or is another data set"
            )
    if len(data) < _HEADER or not data.startswith(MAGIC):
        raise TrainingDataError("not genoracle training data (missing the GODATA1 header)")
    count, height, width = (
        int.from_bytes(data[len(MAGIC) + 4 * i : len(MAGIC) + 4 * i + 4], "big") for i in range(3)
    )
    if not 1 <= count <= MAX_EXAMPLES or height * width == 0:
        raise TrainingDataError(f"header announces {count} examples of {height}x{width}")
    pixels = count * height * width
    if len(data) != _HEADER + pixels + count:
        raise TrainingDataError(
            f"training data has {len(data)} bytes; its header announces {_HEADER + pixels + count}"
        )
    body = np.frombuffer(data, dtype=np.uint8, offset=_HEADER)
    images = body[:pixels].reshape(count, height, width).copy()
    return TrainingData(images, body[pixels:].copy())


def load_data(path: Path, expected_sha256: str | None = None) -> TrainingData:
    """Read a data file, checking its sha256 against the task's when given."""
    return parse_data(path.read_bytes(), expected_sha256)


def as_tensors(data: TrainingData) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) float32 in [-1, 1] and int64 labels, as Digits-Gen's training consumes."""
    images = torch.from_numpy(data.images.astype(np.float32) / 255.0).unsqueeze(1) * 2.0 - 1.0
    return images.contiguous(), torch.from_numpy(data.labels.astype(np.int64))


def _thicken(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Dilate strokes by a 3x3 maximum (zero padding): a bolder hand."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    height, width = images.shape[1:]
    shifted = [padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)]
    return np.asarray(np.max(np.stack(shifted), axis=0), dtype=np.uint8)


def demo_dataset(
    style: str = "thick",
    classes: tuple[int, ...] = tuple(range(NUM_CLASSES)),
    examples: int = 512,
    seed: int = 16,
) -> TrainingData:
    """A fine-tuning set from scikit-learn's bundled digits: `examples` of the given classes,
    chosen with a fixed seed, upscaled to 16x16 as Digits-Gen's own training does, in `style`."""
    import torch.nn.functional as F  # noqa: N812
    from sklearn.datasets import load_digits

    if style not in STYLES:
        raise TrainingDataError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    digits = load_digits()
    labels = np.asarray(digits.target, dtype=np.uint8)
    chosen = np.flatnonzero(np.isin(labels, classes))
    if not 1 <= examples <= len(chosen):
        raise TrainingDataError(f"examples must be 1..{len(chosen)} for classes {classes}")
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(chosen))
    picked = np.sort(chosen[order[:examples]])
    pixels = torch.from_numpy(np.asarray(digits.images[picked], np.float32) / 16.0).unsqueeze(1)
    upscaled = F.interpolate(pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear")
    images = (upscaled.clamp(0.0, 1.0)[:, 0].numpy() * 255.0).round().astype(np.uint8)
    if style == "thick":
        images = _thicken(images)
    return TrainingData(images, labels[picked].copy())
