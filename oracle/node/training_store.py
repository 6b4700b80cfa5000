"""Training tasks on a node, the parts without a chain: content-addressed stores for data and
checkpoints, downloading bytes by their sha256 from a list of members (refusing, recording and
skipping any that serve other bytes), where a round's start checkpoint is fetched from, and
whether a request's spec says what the request says. The desk (training.py) wires them up."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_utils.address import to_checksum_address

if TYPE_CHECKING:
    from inference.training.spec import TrainingSpec

#: The largest training data or checkpoint a node downloads or accepts.
MAX_TRANSFER_BYTES = 64 * 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return sha256(data).hexdigest()


class BlobStore:
    """Files named by the sha256 of their bytes; a write is atomic, a read is checked."""

    def __init__(self, folder: Path, suffix: str) -> None:
        self.folder = folder
        self.suffix = suffix

    def path(self, digest: str) -> Path:
        return self.folder / f"{digest.lower().removeprefix('0x')}{self.suffix}"

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def get(self, digest: str) -> bytes | None:
        """The bytes stored under `digest`, or None (also when the file no longer matches)."""
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data if sha256_hex(data) == digest.lower().removeprefix("0x") else None

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        path = self.path(digest)
        if not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            staging.write_bytes(data)
            os.replace(staging, path)
        return digest


Getter = Callable[[str], bytes | None]
"""Downloads a URL: its bytes, or None (unreachable, refused, too large)."""


def http_get(timeout_s: float) -> Getter:
    def get(url: str) -> bytes | None:
        try:
            with httpx.stream("GET", url, timeout=timeout_s) as response:
                if response.status_code != 200:
                    return None
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_TRANSFER_BYTES:
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError:
            return None

    return get


@dataclass(frozen=True)
class Rejection:
    """Bytes (or a request) this node refused, and why."""

    what: str  # "checkpoint", "data", "request"
    source: str
    reason: str
    at: float = field(default_factory=time.time)


def fetch_verified(
    digest: str,
    sources: Iterable[tuple[str, str]],
    get: Getter,
    reject: Callable[[Rejection], None],
    what: str = "checkpoint",
    check: Callable[[bytes], None] | None = None,
) -> bytes | None:
    """The bytes whose sha256 is `digest`, from the first of `sources` ((who, url) pairs) that
    serves them; a source serving other bytes (or bytes `check` refuses by raising ValueError) is
    rejected and the next one tried. None when no source served them."""
    wanted = digest.lower().removeprefix("0x")
    for who, url in sources:
        data = get(url)
        if data is None:
            continue
        actual = sha256_hex(data)
        if actual != wanted:
            reject(Rejection(what, who, f"served sha256 {actual}, expected {wanted}"))
            continue
        if check is not None:
            try:
                check(data)
            except ValueError as exc:
                reject(Rejection(what, who, str(exc)))
                continue
        return data
    return None


def checkpoint_sources(
    canonical_member: str,
    revealers: dict[str, str],
    checkpoint: str,
    endpoints: Callable[[str], str | None],
    me: str,
) -> list[tuple[str, str]]:
    """Where to fetch a round's start checkpoint: its canonical member first, then every other
    member that revealed the same sha256 (identical bytes, by the hash), never this node."""
    wanted = checkpoint.lower().removeprefix("0x")
    same = sorted(m for m, sha in revealers.items() if sha.lower().removeprefix("0x") == wanted)
    order = [canonical_member, *same]
    sources: list[tuple[str, str]] = []
    for member in dict.fromkeys(to_checksum_address(m) for m in order):
        if member == to_checksum_address(me):
            continue
        endpoint = endpoints(member)
        if endpoint:
            sources.append((member, f"{endpoint.rstrip('/')}/training/checkpoints/{wanted}"))
    return sources


def request_problem(
    spec_bytes: bytes, args: dict[str, Any], base_names: Iterable[str]
) -> tuple[TrainingSpec | None, str | None]:
    """The request's spec, or why it cannot be trained: a spec that is not valid, or that does
    not say what the request says (data hash, seed, rounds, steps, base model)."""
    from inference.training.spec import TrainingSpecError, parse_spec

    try:
        spec = parse_spec(spec_bytes)
    except TrainingSpecError as exc:
        return None, str(exc)
    base = "0x" + bytes(args["baseModelId"]).hex()
    mismatches = [
        name
        for name, ok in (
            ("data_sha256", spec.data_sha256 == bytes(args["dataHash"]).hex()),
            ("seed", spec.seed == int(args["seed"])),
            ("rounds", spec.rounds == int(args["rounds"])),
            ("steps_per_round", spec.steps_per_round == int(args["stepsPerRound"])),
            ("base_model", spec.base_model in (base, *base_names)),
        )
        if not ok
    ]
    if mismatches:
        return spec, f"the spec's {', '.join(mismatches)} differ from the request's"
    return spec, None
