"""Fetch a task's artifact from its committee members and keep it only if it matches the chain.

A member serves what it generated at the endpoint it registered on chain (`getOperator(...)
.endpoint`): the image at `GET /tasks/{id}/artifact`, a text task's token ids (what its digest
covers) with the text at `GET /tasks/{id}/tokens`, once the task's commit phase is over. Nothing
a member serves is trusted: each answer is digested with the model's registered scheme and
compared with the resolved on-chain digest within the task's tolerance; a member that serves
anything else (a forged file, a wrong size, garbage, nothing) is skipped and the next is tried.
When none matches, `FetchError` says what each member did.

A text's token ids are checked against the chain; the text beside them is the member's decoding
of those ids, which is checked too when the caller holds the model (`decode`, its tokenizer).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.client import ChainClient
from oracle.chain.views import ModelKind, TaskStatus, read_model, read_operator, read_task
from oracle.errors import OracleError
from oracle.sdk.results import task_result
from oracle.sdk.verify import Verification, VerificationError, verify_artifact

MAX_ARTIFACT_BYTES = 16 * 1024 * 1024
"""Largest answer read from a member: the node API's own upload limit; a member streaming more
is cut off and skipped."""


class FetchError(OracleError):
    """No artifact could be fetched and verified; `kind` says why (unknown_task, not_resolved,
    invalid_input, no_match)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Attempt:
    """One member asked for the artifact, and what came of it."""

    operator: str
    endpoint: str
    outcome: str
    """'match', or why the member was skipped."""


@dataclass(frozen=True)
class FetchedArtifact:
    """An artifact whose digest agrees with the task's on-chain result, and who served it."""

    task_id: int
    kind: str
    """'image' or 'text'."""
    media_type: str
    operator: str
    endpoint: str
    verification: Verification
    attempts: list[Attempt]
    token_ids: list[int] | None = None
    """Text: the verified token ids (the digest is over them)."""
    text_checked: bool | None = None
    """Text: whether the text was checked as the decoding of the token ids (with the model's
    tokenizer); None for an image."""
    data: bytes = field(default=b"", repr=False)
    """The image bytes, or the text as UTF-8."""

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("data")
        body["size"] = len(self.data)
        return body

    def save(self, path: Path) -> Path:
        """Write the artifact atomically: the image, or the text; a text saved to a `.json` path
        is `{"task_id", "token_ids", "text"}`, which `genoracle verify` checks without a node."""
        if self.kind == "text" and path.suffix.lower() == ".json":
            payload = {
                "task_id": self.task_id,
                "token_ids": self.token_ids,
                "text": self.data.decode("utf-8"),
            }
            content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        else:
            content = self.data
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
        temporary.write_bytes(content)
        temporary.replace(path)
        return path


def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ARTIFACT_BYTES:
            raise _SkipError(f"served more than {MAX_ARTIFACT_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _SkipError(Exception):
    """Why one member's answer is not used."""


def _get(http: httpx.Client, url: str) -> bytes:
    try:
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                detail = _read_capped(response)[:300].decode("utf-8", "replace")
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    detail = str(json.loads(detail)["detail"])
                raise _SkipError(f"HTTP {response.status_code}: {detail}")
            return _read_capped(response)
    except httpx.HTTPError as exc:
        raise _SkipError(f"unreachable ({type(exc).__name__}: {exc})") from None


def _mismatch(check: Verification, what: str) -> _SkipError:
    return _SkipError(
        f"served {what} whose digest {check.digest[:18]}... is "
        f"{'/'.join(map(str, check.distances))} bits from the chain's per lane "
        f"(tolerance {'/'.join(map(str, check.tolerance))})"
    )


def _members_in_order(client: ChainClient, task_id: int, from_block: int) -> list[str]:
    """Members whose revealed digest agrees with the result first (they hold a matching
    artifact), then the others, each in committee order."""
    result = task_result(client, task_id, from_block=from_block)
    if result is None:
        return []
    agreeing = [vote.operator for vote in result.votes if vote.agrees]
    return agreeing + [vote.operator for vote in result.votes if vote.operator not in agreeing]


def fetch_artifact(
    client: ChainClient,
    task_id: int,
    *,
    decode: Callable[[Sequence[int]], str] | None = None,
    timeout_s: float = 10.0,
    from_block: int = 0,
    http: httpx.Client | None = None,
) -> FetchedArtifact:
    """The first artifact a committee member serves that agrees with the task's on-chain digest.

    `decode` (text only): the model's decoding of token ids; given, a member's text must be the
    decoding of its (verified) token ids. Blocking: an async caller runs it in a worker thread.
    """
    view = read_task(client, task_id)
    if view is None:
        raise FetchError(
            "unknown_task", f"task {task_id} does not exist on oracle {client.address}"
        )
    if view.status != TaskStatus.RESOLVED:
        state = view.status.name.lower().replace("_", " ")
        hint = (
            "wait until it is resolved (genoracle task wait)"
            if view.status in (TaskStatus.DRAWING, TaskStatus.OPEN)
            else "it has no verified digest to check an artifact against"
        )
        raise FetchError("not_resolved", f"task {task_id} is {state}: {hint}")
    if view.result == INVALID_INPUT_DIGEST:
        raise FetchError(
            "invalid_input",
            f"task {task_id} resolved as an invalid input: no member generated an artifact",
        )
    model = read_model(client, view.model_id)
    if model is None:
        raise FetchError("unknown_task", f"task {task_id}'s model is not registered")
    kind = model.kind.name.lower()
    attempts: list[Attempt] = []
    own_http = http is None
    session = http or httpx.Client(timeout=timeout_s, follow_redirects=False)
    try:
        for operator in _members_in_order(client, task_id, from_block):
            endpoint = read_operator(client, operator).endpoint.rstrip("/")
            try:
                if urlparse(endpoint).scheme not in ("http", "https"):
                    raise _SkipError(f"registered endpoint {endpoint!r} is not an http(s) URL")
                if model.kind == ModelKind.IMAGE:
                    fetched = _fetch_image(client, session, endpoint, task_id, operator, attempts)
                else:
                    fetched = _fetch_text(
                        client, session, endpoint, task_id, operator, attempts, decode
                    )
            except _SkipError as skip:
                attempts.append(Attempt(operator, endpoint, str(skip)))
                continue
            return fetched
    finally:
        if own_http:
            session.close()
    lines = "".join(f"\n  {a.operator} ({a.endpoint}): {a.outcome}" for a in attempts)
    raise FetchError(
        "no_match",
        f"no committee member served a {kind} artifact of task {task_id} that matches its "
        f"on-chain digest 0x{view.result.hex()}; nothing was saved{lines or ' (no members)'}",
    )


def _fetch_image(
    client: ChainClient,
    http: httpx.Client,
    endpoint: str,
    task_id: int,
    operator: str,
    attempts: list[Attempt],
) -> FetchedArtifact:
    data = _get(http, f"{endpoint}/tasks/{task_id}/artifact")
    try:
        check = verify_artifact(client, task_id, data)
    except VerificationError as exc:
        raise _SkipError(f"served a file that cannot be checked: {exc}") from None
    if not check.match:
        raise _mismatch(check, "an image")
    attempts.append(Attempt(operator, endpoint, "match"))
    return FetchedArtifact(
        task_id=task_id,
        kind="image",
        media_type="image/png",
        operator=operator,
        endpoint=endpoint,
        verification=check,
        attempts=attempts,
        data=data,
    )


def _fetch_text(
    client: ChainClient,
    http: httpx.Client,
    endpoint: str,
    task_id: int,
    operator: str,
    attempts: list[Attempt],
    decode: Callable[[Sequence[int]], str] | None,
) -> FetchedArtifact:
    raw = _get(http, f"{endpoint}/tasks/{task_id}/tokens")
    try:
        body = json.loads(raw)
        token_ids, text = body["token_ids"], body["text"]
    except (ValueError, KeyError, TypeError):
        raise _SkipError('served no {"token_ids": [...], "text": ...} body') from None
    if not isinstance(text, str):
        raise _SkipError("served a text that is not a string")
    try:
        check = verify_artifact(client, task_id, json.dumps({"token_ids": token_ids}).encode())
    except VerificationError as exc:
        raise _SkipError(f"served token ids that cannot be checked: {exc}") from None
    if not check.match:
        raise _mismatch(check, "token ids")
    if decode is not None and decode(token_ids) != text:
        raise _SkipError("served matching token ids with a text that is not their decoding")
    attempts.append(Attempt(operator, endpoint, "match"))
    return FetchedArtifact(
        task_id=task_id,
        kind="text",
        media_type="text/plain; charset=utf-8",
        operator=operator,
        endpoint=endpoint,
        verification=check,
        attempts=attempts,
        token_ids=[int(token) for token in token_ids],
        text_checked=decode is not None,
        data=text.encode("utf-8"),
    )
