"""Training tasks' routes on a node's API: checkpoints this node revealed, served to anyone by
sha256 (a member continues from the round's canonical one; the final one is the trained model's
weights), training data by sha256 (peers that were not pushed it), the requester's data push,
and what the node knows of a task (its rejections)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from oracle.node.api import ErrorBody
from oracle.node.training_store import MAX_TRANSFER_BYTES


class TrainingDesk(Protocol):
    """What these routes need of the node's training desk (oracle/node/training.py)."""

    def served_checkpoint(self, digest: str) -> bytes | None: ...

    def served_data(self, digest: str) -> bytes | None: ...

    def accept_data(self, data: bytes, source: str) -> tuple[bool, str]: ...

    def status(self, task_id: int) -> dict[str, Any] | None: ...


_SHA256 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def _digest(value: str) -> str:
    if not _SHA256.match(value):
        raise HTTPException(400, f"{value!r} is not a sha256 (64 hex digits)")
    return value.lower().removeprefix("0x")


def add_training_routes(app: FastAPI, desk: TrainingDesk) -> None:
    @app.get(
        "/training/checkpoints/{sha256}",
        summary="A training checkpoint (canonical safetensors) this node revealed, by its sha256",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}},
            **{code: {"model": ErrorBody} for code in (400, 404)},
        },
    )
    def training_checkpoint(sha256: str) -> Response:
        data = desk.served_checkpoint(_digest(sha256))
        if data is None:
            raise HTTPException(404, f"no revealed checkpoint {sha256} here")
        return Response(content=data, media_type="application/octet-stream")

    @app.get(
        "/training/data/{sha256}",
        summary="Training data (canonical bytes) of a task this node knows, by its sha256",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}},
            **{code: {"model": ErrorBody} for code in (400, 404)},
        },
    )
    def training_data(sha256: str) -> Response:
        data = desk.served_data(_digest(sha256))
        if data is None:
            raise HTTPException(404, f"no training data {sha256} here")
        return Response(content=data, media_type="application/octet-stream")

    @app.post(
        "/training/data",
        summary="Push a training task's data (canonical bytes): kept when its sha256 is the data "
        "hash of a training task this node knows and it decodes",
        responses={code: {"model": ErrorBody} for code in (400, 413, 422)},
    )
    async def push_training_data(request: Request) -> dict[str, Any]:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_TRANSFER_BYTES:
                raise HTTPException(413, f"training data larger than {MAX_TRANSFER_BYTES} bytes")
        client = request.client.host if request.client else "unknown"
        kept, reason = desk.accept_data(bytes(body), f"push from {client}")
        if not kept:
            raise HTTPException(422, reason)
        return {"kept": True}

    @app.get(
        "/training/tasks/{task_id}",
        summary="What this node knows of a training task: the rounds it committed, their "
        "outcomes, and every refusal (bad data, bad checkpoints, a mismatched spec)",
        responses={code: {"model": ErrorBody} for code in (404, 422)},
    )
    def training_task(task_id: int) -> dict[str, Any]:
        status = desk.status(task_id)
        if status is None:
            raise HTTPException(404, f"no training task {task_id} here")
        return status
