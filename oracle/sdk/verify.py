"""Check an artifact someone holds against a task's on-chain digest, within the task's tolerance.

Images are digested with the scheme the model registered on chain. Text digests are over token
ids, so a text artifact is checked either as JSON `{"token_ids": [...]}` or, for plain text, with
the token ids a node recorded when it generated exactly these bytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image

from inference.digests import (
    Tolerance,
    digest_image,
    digest_tokens,
    digests_agree,
    lane_distances,
    unreadable_image_reason,
)
from inference.errors import InferenceError
from oracle.chain.client import ChainClient
from oracle.chain.views import ModelKind, TaskStatus, read_model, read_task
from oracle.errors import OracleError

MAX_VERIFY_PIXELS = 16_000_000
"""Largest uploaded image (width x height) that is decoded, far below Pillow's default bomb limit
(~89 megapixels): a small PNG can decode to hundreds of megabytes and seconds of CPU."""


class VerificationError(OracleError):
    """The artifact cannot be checked; `kind` says why (unknown_task, not_final, bad_artifact,
    too_large)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Verification:
    task_id: int
    match: bool
    digest: str
    onchain_digest: str
    distances: tuple[int, int, int, int]
    tolerance: tuple[int, int, int, int]
    scheme: str
    kind: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text_token_ids(data: bytes, known: Sequence[tuple[bytes, Sequence[int]]]) -> list[int]:
    stripped = data.strip()
    if stripped.startswith(b"{"):
        try:
            decoded = json.loads(stripped)
            ids = decoded["token_ids"]
        except (ValueError, KeyError, TypeError):
            raise VerificationError(
                "bad_artifact", 'a JSON text artifact must be {"token_ids": [int, ...]}'
            ) from None
        if not isinstance(ids, list) or not all(isinstance(i, int) and i >= 0 for i in ids):
            raise VerificationError("bad_artifact", "token_ids must be a list of integers >= 0")
        return ids
    for text, ids in known:
        if text == data:
            return list(ids)
    raise VerificationError(
        "bad_artifact",
        "plain text cannot be digested without its token ids: upload "
        '{"token_ids": [...]} or the exact text a node generated',
    )


def _check_image_size(data: bytes, max_pixels: int) -> None:
    """Read only the image header and refuse one that would decode to more than `max_pixels`."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: parses the header, decodes nothing
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise VerificationError("too_large", f"image too large to decode: {exc}") from None
    except (OSError, ValueError) as exc:
        raise VerificationError(
            "bad_artifact",
            f"cannot digest the file: {unreadable_image_reason(exc)}; upload the image the "
            "task produced",
        ) from None
    if width * height > max_pixels:
        raise VerificationError(
            "too_large",
            f"image is {width}x{height} = {width * height} pixels, more than the {max_pixels} "
            "this node decodes; upload the artifact at its generated size",
        )


def verify_artifact(
    client: ChainClient,
    task_id: int,
    data: bytes,
    known_texts: Sequence[tuple[bytes, Sequence[int]]] = (),
    max_pixels: int = MAX_VERIFY_PIXELS,
) -> Verification:
    """Digest `data` as the task's model does and compare it with the on-chain result.

    Blocking (chain reads, image decoding): an async caller runs it in a worker thread."""
    view = read_task(client, task_id)
    if view is None:
        raise VerificationError("unknown_task", f"task {task_id} does not exist on this oracle")
    if view.status != TaskStatus.RESOLVED:
        raise VerificationError(
            "not_final",
            f"task {task_id} has no verified digest (status "
            f"{view.status.name.lower()}); wait until it is resolved",
        )
    model = read_model(client, view.model_id)
    if model is None:
        raise VerificationError("unknown_task", f"task {task_id}'s model is not registered")
    if not data:
        raise VerificationError("bad_artifact", "the uploaded file is empty")
    try:
        if model.kind == ModelKind.IMAGE:
            _check_image_size(data, max_pixels)
            digest = digest_image(data, model.digest_scheme)
        else:
            digest = digest_tokens(_text_token_ids(data, known_texts))
    except VerificationError:
        raise
    except (InferenceError, ValueError) as exc:
        raise VerificationError("bad_artifact", f"cannot digest the file: {exc}") from None
    tolerance = Tolerance.from_uint32(view.tolerance)
    return Verification(
        task_id=task_id,
        match=digests_agree(digest, view.result, tolerance),
        digest="0x" + digest.hex(),
        onchain_digest="0x" + view.result.hex(),
        distances=lane_distances(digest, view.result),
        tolerance=tolerance.lanes,
        scheme=model.digest_scheme,
        kind=model.kind.name.lower(),
    )
