"""Requester SDK: submit a generation task, wait for it, read the verified result.

    client = OracleClient.from_config(load_client_config(Path("client.toml")))
    task = client.submit("tiny-sd", {"prompt": "a red fox", "width": 64, "height": 64, "steps": 4})
    result = client.wait(task.task_id, timeout_s=120)
    print(result.digest, [(v.operator, v.distances) for v in result.votes], result.payouts)
    client.fetch(task.task_id).save(Path("fox.png"))  # from a member, checked against the chain

Inputs are validated against the model's schema and sent as canonical JSON, so every verifier
reads the same bytes. Fees default to what the contract asks; the tolerance to what the input
needs (inference.input_tolerance: the model's floor, raised for a high guidance or a noisier
scheduler where this machine has the model's manifest), and one below that is refused before
anything is sent, since the nodes would answer the task as invalid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inference.audit.calibrated import check_audited_image
from inference.digests import Tolerance
from inference.errors import InvalidInputError
from inference.input_tolerance import required_tolerance
from inference.specs import ImageInput, canonical_json, parse_input
from oracle.chain.client import ChainClient
from oracle.chain.views import ModelKind, ModelView, TaskStatus, read_config, read_model, read_task
from oracle.config import ClientConfig
from oracle.errors import OracleError, TaskTimeoutError
from oracle.keys import load_account
from oracle.sdk.audited import (
    AuditedResult,
    audited_client,
    audited_result,
    request_audited,
    wait_audited,
)
from oracle.sdk.fetch import FetchedArtifact, FetchError, fetch_artifact
from oracle.sdk.models import ModelRegistration, local_manifest, register_model
from oracle.sdk.results import TaskResult, task_result
from oracle.sdk.verify import Verification, verify_artifact

MIN_COMMITTEE_SIZE = 3
USE_DEFAULT_TOLERANCE = 2**32 - 1
"""The oracle's "the model's default tolerance" value (GenerationOracle.USE_DEFAULT_TOLERANCE)."""


class ToleranceTooLowError(OracleError, ValueError):
    """The requested tolerance is below what honest re-runs of the input need."""


@dataclass(frozen=True)
class SubmittedTask:
    """A request that is on chain: its id and the transaction. Its committee is drawn after the
    request's block (from that block's hash), so it is not known here: see `TaskResult`."""

    task_id: int
    tx_hash: str
    block_number: int
    fee_wei: int
    input: bytes
    gas_wei: int = 0
    """What the request transaction's gas cost the sender (gas used x effective gas price)."""


def model_id_of(model: str | bytes) -> bytes:
    """A model id from 32 raw bytes, a 0x-hex id, or a model name/folder (via its manifest)."""
    if isinstance(model, bytes):
        if len(model) != 32:
            raise OracleError(f"a model id is 32 bytes, got {len(model)}")
        return model
    text = model.strip()
    if text.startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise OracleError(f"model id {model!r} is not hex") from None
    from inference.manifest import load_manifest
    from inference.models import resolve_model_folder

    return bytes(load_manifest(resolve_model_folder(text)).model_id)


class OracleClient:
    """The requester's side of the oracle."""

    def __init__(self, chain: ChainClient, *, start_block: int = 0) -> None:
        self.chain = chain
        self.start_block = start_block

    @classmethod
    def from_config(cls, config: ClientConfig, *, with_account: bool = True) -> OracleClient:
        account = load_account(config.account) if with_account else None
        return cls(ChainClient(config.chain, account))

    def model(self, model: str | bytes) -> ModelView:
        model_id = model_id_of(model)
        view = read_model(self.chain, model_id)
        if view is None:
            raise OracleError(
                f"model 0x{model_id.hex()} is not registered on oracle {self.chain.address}: "
                "the registry's owner registers it with `genoracle models register NAME`"
            )
        return view

    def register_model(self, model: str) -> ModelRegistration:
        """Register MODEL (a built-in name or a model folder) in the oracle's model registry with
        its manifest's terms; needs the registry owner's key (see oracle.sdk.models)."""
        return register_model(self.chain, model)

    def check_committee_size(self, committee_size: int) -> None:
        """Refuse, before anything is sent, a size the oracle would revert: committees are odd,
        from 3 to the deployment's maximum."""
        maximum = int(read_config(self.chain)["maxCommitteeSize"])
        if (
            committee_size < MIN_COMMITTEE_SIZE
            or committee_size > maximum
            or committee_size % 2 == 0
        ):
            sizes = ", ".join(str(size) for size in range(MIN_COMMITTEE_SIZE, maximum + 1, 2))
            raise OracleError(
                f"committee size {committee_size}: a committee is odd, from "
                f"{MIN_COMMITTEE_SIZE} to {maximum} on this oracle; ask for one of {sizes}"
            )

    def encode_input(
        self,
        view: ModelView,
        spec: BaseModel | dict[str, Any] | bytes | str,
        *,
        validate: bool = True,
    ) -> bytes:
        """Canonical JSON bytes of the input; with `validate`, checked against the model kind."""
        if isinstance(spec, BaseModel):
            return canonical_json(spec)
        raw = spec if isinstance(spec, bytes | str) else json.dumps(spec)
        if not validate:
            return raw.encode() if isinstance(raw, str) else raw
        return canonical_json(parse_input(view.kind.name.lower(), raw))

    def input_tolerance(self, model: str | bytes, view: ModelView, data: bytes) -> Tolerance | None:
        """What honest re-runs of this input need (None where this machine lacks the model's
        manifest or the input is invalid, which the nodes answer alike anyway)."""
        manifest = local_manifest(model, view.model_id)
        if manifest is None:
            return None
        try:
            return required_tolerance(manifest, parse_input(manifest.kind, data, manifest.defaults))
        except InvalidInputError:
            return None

    def tolerance_for(
        self,
        model: str | bytes,
        view: ModelView,
        data: bytes,
        tolerance: Tolerance | int | None,
    ) -> int:
        """The tolerance to request: the input's need by default (else the model's floor); an
        explicit one below the input's need raises ToleranceTooLowError."""
        if isinstance(tolerance, int) and tolerance == USE_DEFAULT_TOLERANCE:
            tolerance = None
        needed = self.input_tolerance(model, view, data)
        if tolerance is None:
            return view.default_tolerance if needed is None else needed.to_uint32()
        chosen = tolerance if isinstance(tolerance, Tolerance) else Tolerance.from_uint32(tolerance)
        if needed is not None and not chosen.covers(needed):
            raise ToleranceTooLowError(
                f"tolerance {chosen} is below {needed}, what honest re-runs of this input need "
                f"(its guidance and scheduler move them further): ask for {needed} or more, or "
                "leave the tolerance out"
            )
        return chosen.to_uint32()

    def minimum_fee(self, committee_size: int, callback_gas_limit: int = 0) -> int:
        """The smallest fee the oracle accepts: the members' fee plus the callback's gas."""
        return int(self.chain.view("requiredFee", committee_size, callback_gas_limit))

    def submit(
        self,
        model: str | bytes,
        spec: BaseModel | dict[str, Any] | bytes | str,
        *,
        committee_size: int = 3,
        tolerance: Tolerance | int | None = None,
        fee_wei: int | None = None,
        callback_gas_limit: int = 0,
        validate: bool = True,
    ) -> SubmittedTask:
        """Request a verified generation; returns once the request is mined."""
        self.check_committee_size(committee_size)
        view = self.model(model)
        data = self.encode_input(view, spec, validate=validate)
        tolerance_value = self.tolerance_for(model, view, data, tolerance)
        fee = self.minimum_fee(committee_size, callback_gas_limit) if fee_wei is None else fee_wei
        receipt = self.chain.transact(
            "requestGeneration",
            view.model_id,
            data,
            committee_size,
            tolerance_value,
            callback_gas_limit,
            value=fee,
        )
        for event in self.chain.receipt_events(receipt):
            if event["event"] == "TaskRequested":
                args = event["args"]
                return SubmittedTask(
                    task_id=int(args["taskId"]),
                    tx_hash=receipt["transactionHash"].to_0x_hex(),
                    block_number=int(receipt["blockNumber"]),
                    fee_wei=fee,
                    input=data,
                    gas_wei=int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0)),
                )
        raise OracleError("requestGeneration was mined but emitted no TaskRequested event")

    def submit_audited(
        self,
        model: str | bytes,
        spec: BaseModel | dict[str, Any] | bytes | str,
        *,
        auditors: int = 2,
        tolerance: int | None = None,
        fee_wei: int | None = None,
        callback_gas_limit: int = 0,
        validate: bool = True,
    ) -> SubmittedTask:
        """Request an audited generation (one executor, `auditors` auditors: 2 or 4) from the
        oracle's AuditedTasks; returns once the request is mined. See oracle.sdk.audited."""
        view = self.model(model)
        data = self.encode_input(view, spec, validate=validate)
        if validate and view.kind == ModelKind.TEXT and json.loads(data).get("num_beams", 1) != 1:
            raise OracleError("an audited text task decodes greedily: num_beams must be 1")
        manifest = local_manifest(model, view.model_id) if validate else None
        if manifest is not None and view.kind == ModelKind.IMAGE:
            image = parse_input("image", data, manifest.defaults)
            assert isinstance(image, ImageInput)
            try:
                check_audited_image(manifest.name, image)
            except InvalidInputError as exc:
                raise OracleError(str(exc)) from None
        task_id, tx_hash, block, fee = request_audited(
            audited_client(self.chain),
            view.model_id,
            data,
            auditors,
            self.audited_tolerance(view, tolerance),
            fee_wei,
            callback_gas_limit,
        )
        return SubmittedTask(task_id, tx_hash, block, fee, data)

    def audited_tolerance(self, view: ModelView, tolerance: int | None) -> int | None:
        """The tolerance an audited task asks for (None: the model's audit tolerance, which the
        contract grants). The compared digests are step sketches (text: hidden-state sketches),
        so the registry holds a per-model audit tolerance: refused here before sending are a
        model without one (OracleError: not auditable) and an explicit tolerance below it
        (ToleranceTooLowError), as the contract would refuse them."""
        floor = int(self.chain.registry().view("auditToleranceOf", view.model_id))
        if floor == 0:
            raise OracleError(
                f"model 0x{view.model_id.hex()} has no audit tolerance in the registry, so it "
                "cannot be audited: request a replicated task, or have the registry owner set "
                "one (`genoracle models register` does for the models the audit study calibrated)"
            )
        if tolerance is None or tolerance == USE_DEFAULT_TOLERANCE:
            return None
        needed = Tolerance.from_uint32(floor)
        if not Tolerance.from_uint32(tolerance).covers(needed):
            raise ToleranceTooLowError(
                f"tolerance {Tolerance.from_uint32(tolerance)} is below {needed}, the model's "
                "audit tolerance (what honest hardware noise moves its sketches by): ask for "
                f"{needed} or more, or leave the tolerance out"
            )
        return tolerance

    def audited_result(self, task_id: int) -> AuditedResult:
        """An audited task as it stands now."""
        return audited_result(audited_client(self.chain), task_id, self.start_block)

    def wait_audited(
        self, task_id: int, *, timeout_s: float = 300.0, poll_s: float = 0.25
    ) -> AuditedResult:
        """Block until the audited task is final (resolved, rejected, ...) or the timeout."""
        return wait_audited(
            audited_client(self.chain), task_id, timeout_s, poll_s, self.start_block
        )

    def result(self, task_id: int) -> TaskResult | None:
        """The task as it stands now (None when the oracle does not know it)."""
        return task_result(self.chain, task_id, from_block=self.start_block)

    def wait(self, task_id: int, *, timeout_s: float = 300.0, poll_s: float = 0.25) -> TaskResult:
        """Block until the task is final (resolved, no consensus, expired) or the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.result(task_id)
            if result is None:
                raise OracleError(f"task {task_id} does not exist on oracle {self.chain.address}")
            if result.final:
                return result
            if time.monotonic() >= deadline:
                raise TaskTimeoutError(
                    f"task {task_id} still {result.status} (phase {result.phase}) after "
                    f"{timeout_s:.0f} s"
                )
            time.sleep(poll_s)

    def resolve(self, task_id: int) -> str:
        """Close a task whose deadline passed (anyone may); returns the transaction hash."""
        receipt = self.chain.transact("resolve", task_id)
        return str(receipt["transactionHash"].to_0x_hex())

    def fetch(
        self, task_id: int, *, model: str | None = None, timeout_s: float = 10.0
    ) -> FetchedArtifact:
        """The task's artifact from a committee member's endpoint, checked against the resolved
        on-chain digest (a member serving anything else is skipped); `FetchError` when none
        matches. `model` (a text model's name or folder, held locally): also check that a served
        text is the decoding of its verified token ids."""
        decode = None
        if model is not None:
            decode = self._text_decoder(task_id, model)
        return fetch_artifact(
            self.chain, task_id, decode=decode, timeout_s=timeout_s, from_block=self.start_block
        )

    def _text_decoder(self, task_id: int, model: str) -> Callable[[Sequence[int]], str]:
        from inference.backends import text_decoder
        from inference.manifest import load_manifest
        from inference.models import resolve_model_folder

        task = read_task(self.chain, task_id)
        if task is None:
            raise FetchError("unknown_task", f"task {task_id} does not exist on this oracle")
        folder = resolve_model_folder(model)
        manifest = load_manifest(folder)
        if bytes(manifest.model_id) != task.model_id:
            raise OracleError(
                f"model {model!r} is 0x{bytes(manifest.model_id).hex()}, but task {task_id} "
                f"ran 0x{task.model_id.hex()}; give the task's model"
            )
        if manifest.kind != "text":
            raise OracleError(f"model {model!r} is an image model: nothing to decode")
        return text_decoder(folder)

    def verify(self, task_id: int, path: Path) -> Verification:
        """Digest a file as the task's model does and compare it with the on-chain result.

        A plain text (not `{"token_ids": [...]}`) has no digest of its own: it is compared with
        the text a committee member serves beside token ids that match the chain."""
        data = path.read_bytes()
        known: list[tuple[bytes, list[int]]] = []
        task = read_task(self.chain, task_id)
        plain = data.strip()[:1] != b"{"
        if plain and task is not None and task.status == TaskStatus.RESOLVED:
            view = read_model(self.chain, task.model_id)
            if view is not None and view.kind == ModelKind.TEXT:
                try:
                    fetched = self.fetch(task_id)
                except FetchError:
                    pass  # verify_artifact says the text cannot be checked without token ids
                else:
                    known.append((fetched.data, fetched.token_ids or []))
        return verify_artifact(self.chain, task_id, data, known)
