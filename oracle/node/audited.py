"""The audited mode on a node (AuditedTasks): executor and auditor of the image and text tasks
it is drawn for (audit_work.py holds each kind's compute behind one `Auditor` interface), on a
desk of its own (module_desk.py: its thread, log reading and sending).

Each pass reads the contract's new logs and looks at every open task the node knows of:
    DrawExecutor / DrawAuditors -> drawAudits (as a keeper, once the draw's block is past)
    Execute, we are the executor -> generate keeping the evidence (latents, or tokens and hidden
        states), submitExecution
    Commit, we are an auditor    -> fetch the challenged evidence from the executor's registered
        endpoint (a request signed with our key), verify it against the evidence root,
        recompute, commit the digest; "evidence withheld" if nothing valid came in time
    Reveal -> the executor opens its challenged sketch, each auditor reveals its own opening
        (the last of these resolves the task on chain)
    Resolvable -> a member resolves it (a missing reveal, a lapsed deadline)
The executor serves the evidence through audit_api.py, to drawn auditors only.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from inference.digests import INVALID_INPUT_DIGEST
from inference.errors import InvalidInputError
from oracle.chain.audited import (
    AUDITED_CONTRACT,
    EVIDENCE_WITHHELD_DIGEST,
    audit_commitment,
    refusal_opening,
    sketch_opening,
)
from oracle.chain.client import ChainClient
from oracle.chain.views import read_operator
from oracle.node.audit_image import ImageAuditor
from oracle.node.audit_text import TextAuditor
from oracle.node.audit_work import Auditor, Claim, EvidenceStore
from oracle.node.module_desk import ModuleDesk

if TYPE_CHECKING:
    from inference.models import LoadedModel
    from oracle.config import NodeConfig
    from oracle.node.conduct import Conduct

log = logging.getLogger("genoracle.node.audited")

ZERO = "0x" + "00" * 20
# AuditPhase
DRAW_EXECUTOR, EXECUTE, DRAW_AUDITORS, COMMIT, REVEAL, RESOLVABLE, FINISHED = 1, 2, 3, 4, 5, 6, 7


def evidence_message(chain_id: int, audited: str, task_id: int) -> str:
    """What an auditor signs to ask an executor for a task's challenged evidence."""
    return f"genoracle audit evidence\nchain {chain_id}\ncontract {audited.lower()}\ntask {task_id}"


def auditor_for(model: LoadedModel, threads: int, submit_window_s: int | None) -> Auditor:
    """The auditor of a model's kind; inputs over the model's compute budget within the
    executor's `submit_window_s` are refused (the replicated mode's rule)."""
    kind = TextAuditor if model.kind == "text" else ImageAuditor
    return kind(model, threads, submit_window_s)


@dataclass
class AuditJob:
    """What the node knows of one audited task."""

    task_id: int
    model_id: bytes
    input: bytes
    tolerance: int
    evidence_root: bytes = b""
    result_digest: bytes = b""
    leaf_count: int = 0
    submitted: bool = False
    first_try: float | None = None
    next_try: float = 0.0
    digest: bytes | None = None
    salt: bytes = b""
    sent: frozenset[str] = frozenset()


class AuditDesk(ModuleDesk[AuditJob]):
    """Watches AuditedTasks for the models this node serves and can audit (`models`: id ->
    name, those with calibrated audit constants) and plays its part."""

    kind = "audited"
    contract = AUDITED_CONTRACT
    resolving_gas = 1_500_000

    def __init__(
        self,
        config: NodeConfig,
        account: LocalAccount,
        oracle: ChainClient,
        address: str,
        conduct: Conduct,
        data_dir: Path,
        start_block: int,
        models: dict[bytes, str],
    ) -> None:
        super().__init__(config, account, oracle, address, conduct, start_block)
        self.wait_s = config.node.audit_evidence_wait_s
        self.evidence = EvidenceStore(data_dir / "audited")
        self.state_dir = data_dir / "audited"
        self.auditors: dict[bytes, Auditor] = {}
        self.models = dict(models)
        self._submit_window_s: int | None = None

    def auditor(self, model_id: bytes) -> Auditor:
        """The auditor of a task's model, loaded in the node's process on its first audited task
        (the inference worker holds its own copy)."""
        if model_id not in self.auditors:
            from inference.models import load_model

            model = load_model(self.models[model_id])
            self.auditors[model_id] = auditor_for(model, self.threads, self.submit_window_s())
        return self.auditors[model_id]

    def submit_window_s(self) -> int:
        """The executor's submit window: the oracle's commit window (AuditedTasks copies it)."""
        if self._submit_window_s is None:
            from oracle.chain.views import read_config

            self._submit_window_s = int(read_config(self.oracle)["commitWindow"])
        return self._submit_window_s

    # -- one pass --------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        args = event["args"]
        if event["event"] == "AuditTaskRequested":
            model_id = bytes(args["modelId"])
            if model_id in self.models:
                task_id = int(args["taskId"])
                job = AuditJob(task_id, model_id, bytes(args["input"]), int(args["tolerance"]))
                kept = self.state_dir / str(task_id) / "opening.json"
                if kept.exists():
                    opening = json.loads(kept.read_text())
                    job.digest = bytes.fromhex(opening["digest"])
                    job.salt = bytes.fromhex(opening["salt"])
                self.jobs[task_id] = job
        elif event["event"] == "ExecutionSubmitted":
            known = self.jobs.get(int(args["taskId"]))
            if known is not None:
                known.evidence_root = bytes(args["evidenceRoot"])
                known.result_digest = bytes(args["unauditedDigest"])
                known.leaf_count = int(args["leafCount"])

    def step(self, job: AuditJob) -> None:
        info = self.client.view("getAuditTask", job.task_id)
        phase = int(info["phase"])
        members = [to_checksum_address(m) for m in info["members"]]
        if phase == FINISHED:
            self.jobs.pop(job.task_id, None)
            return
        position = members.index(self.me) if self.me in members else -1
        if phase in (DRAW_EXECUTOR, DRAW_AUDITORS):
            # Mined in a later block than the draw's, whose hash then exists.
            if self.client.block_number() >= int(info["drawBlock"]):
                self.send_once(job, f"draw/{phase}", "drawAudits")
        elif phase == EXECUTE and position == 0 and not job.submitted:
            self.execute(job)
        elif phase == COMMIT and position > 0 and not info["committed"][position]:
            self.audit(job, position, members[0], int(info["deadline"]))
        elif phase == REVEAL and position == 0 and not info["revealed"][0]:
            self.open(job)
        elif phase == REVEAL and position > 0 and info["committed"][position]:
            if not info["revealed"][position] and job.digest is not None:
                opening = (position, self.me, job.digest, job.salt)
                self.send_once(
                    job, "reveal", "revealAudits", job.task_id, [opening], resolving=True
                )
        elif phase == RESOLVABLE and position >= 0:
            self.send_once(job, "resolve", "resolveAudit", job.task_id, resolving=True)

    # -- executor ----------------------------------------------------------------------------

    def execute(self, job: AuditJob) -> None:
        auditor = self.auditor(job.model_id)
        if not self.evidence.has(job.task_id):
            started = time.perf_counter()
            try:
                execution = auditor.execute(
                    job.task_id, job.input, os.urandom(32), self.conduct, self.evidence
                )
            except InvalidInputError as exc:
                # Refused, as the replicated mode refuses it: the invalid-input digest with no
                # trees; the auditors check the claim, and nobody is slashed if they agree.
                log.warning(
                    "audited task %d: input refused (%s); submitting the invalid-input digest",
                    job.task_id,
                    exc,
                )
                zero = b"\0" * 32
                self.send_once(
                    job,
                    "submit",
                    "submitExecution",
                    job.task_id,
                    INVALID_INPUT_DIGEST,
                    zero,
                    zero,
                    0,
                )
                job.submitted = True
                return
            log.info(
                "audited task %d: executed (%d leaves) in %.1f s",
                job.task_id,
                execution.commitment.sketch_tree.size,
                time.perf_counter() - started,
            )
        commitment = self.evidence.commitment(job.task_id)
        result = self.conduct.audited_result(self.evidence.result_digest(job.task_id))
        self.send_once(
            job,
            "submit",
            "submitExecution",
            job.task_id,
            result,
            commitment.evidence.root,
            commitment.sketch_tree.root,
            commitment.sketch_tree.size,
        )
        job.submitted = True

    def challenge(self, task_id: int, leaf_count: int) -> int:
        index, _seed = self.client.view("challengeOf", task_id, leaf_count)
        return int(index)

    def open(self, job: AuditJob) -> None:
        if not self.evidence.has(job.task_id) and job.result_digest == INVALID_INPUT_DIGEST:
            opening = refusal_opening(self.me)  # the input was refused: no sketches
            self.send_once(job, "open", "openSketches", job.task_id, opening, [], resolving=True)
            return
        commitment = self.evidence.commitment(job.task_id)
        index = self.challenge(job.task_id, commitment.sketch_tree.size)
        result = self.conduct.audited_result(self.evidence.result_digest(job.task_id))
        opening = sketch_opening(commitment, index, self.me, result)
        self.send_once(job, "open", "openSketches", job.task_id, opening, [], resolving=True)

    def evidence_for(self, task_id: int, auditor: str, signature: str) -> dict[str, Any] | None:
        """The challenged evidence for a drawn auditor's signed request (audit_api.py), or None
        when this node will not serve it (not its task, not an auditor, no challenge yet)."""
        from eth_account import Account

        job = self.jobs.get(task_id)
        if job is None or not self.conduct.serves_evidence() or not self.evidence.has(task_id):
            return None
        message = encode_defunct(text=evidence_message(self.chain_id, self.address, task_id))
        try:
            signer = Account.recover_message(message, signature=signature)
        except ValueError:
            return None
        info = self.client.view("getAuditTask", task_id)
        members = [to_checksum_address(m) for m in info["members"]]
        if signer != to_checksum_address(auditor) or signer not in members[1:]:
            return None
        if members[0] != self.me or int(info["phase"]) not in (COMMIT, REVEAL):
            return None
        size = self.evidence.commitment(task_id).sketch_tree.size
        index = self.challenge(task_id, size)
        return self.auditor(job.model_id).serve(self.evidence, task_id, index)

    def result_artifact(self, task_id: int) -> tuple[bytes, str] | None:
        """The result this node generated as the executor (bytes, media type), if it did."""
        return self.evidence.artifact(task_id)

    # -- auditor -----------------------------------------------------------------------------

    def audit(self, job: AuditJob, position: int, executor: str, commit_deadline: int) -> None:
        now = time.monotonic()
        if now < job.next_try:
            return
        if job.first_try is None:
            job.first_try = now
        if job.digest is None:
            job.digest = self._recompute(job, executor)
        if job.digest is None:
            left = commit_deadline - self.client.block_timestamp()
            if now - job.first_try < min(self.wait_s, left / 2):
                job.next_try = now + 1.0
                return
            log.warning("audited task %d: no valid evidence served; withheld", job.task_id)
            job.digest = EVIDENCE_WITHHELD_DIGEST
        job.salt = job.salt or os.urandom(32)
        self._keep_opening(job)
        seal = audit_commitment(
            self.chain_id, self.address, job.task_id, self.me, job.digest, job.salt
        )
        self.send_once(job, "commit", "commitAudit", job.task_id, position, seal)

    def _recompute(self, job: AuditJob, executor: str) -> bytes | None:
        """The digest of the challenged part recomputed from the executor's evidence, or None
        while it has not served valid evidence."""
        if job.result_digest == INVALID_INPUT_DIGEST:
            return self._judge_refusal(job)
        index = self.challenge(job.task_id, job.leaf_count)
        body = self._fetch(job.task_id, executor)
        if body is None:
            return None
        claim = Claim(
            job.input,
            job.tolerance,
            job.evidence_root,
            job.result_digest,
            job.leaf_count,
            index,
        )
        try:
            digest = self.auditor(job.model_id).audit(claim, body)
        except InvalidInputError as exc:
            log.warning("audited task %d: input refused (%s): no valid evidence", job.task_id, exc)
            return EVIDENCE_WITHHELD_DIGEST
        except (KeyError, TypeError, ValueError) as exc:
            log.info("audited task %d: malformed evidence (%s)", job.task_id, exc)
            return None
        if digest == EVIDENCE_WITHHELD_DIGEST:
            log.warning("audited task %d: the evidence contradicts the result", job.task_id)
        elif digest is not None:
            log.info("audited task %d: recomputed leaf %d", job.task_id, index)
        return digest

    def _judge_refusal(self, job: AuditJob) -> bytes:
        """The executor refused the input: agree (INVALID_INPUT_DIGEST) if this node refuses it
        too; a valid input refused is work withheld (EVIDENCE_WITHHELD_DIGEST)."""
        try:
            self.auditor(job.model_id).spec(job.input)
        except InvalidInputError as exc:
            log.info("audited task %d: input refused here too (%s)", job.task_id, exc)
            return INVALID_INPUT_DIGEST
        log.warning("audited task %d: the executor refused a valid input: withheld", job.task_id)
        return EVIDENCE_WITHHELD_DIGEST

    def _fetch(self, task_id: int, executor: str) -> dict[str, Any] | None:
        message = encode_defunct(text=evidence_message(self.chain_id, self.address, task_id))
        signature = self.account.sign_message(message).signature.to_0x_hex()
        endpoint = read_operator(self.oracle, executor).endpoint.rstrip("/")
        try:
            response = httpx.post(
                f"{endpoint}/audit/tasks/{task_id}/evidence",
                json={"auditor": self.me, "signature": signature},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            log.info("audited task %d: evidence request failed: %s", task_id, exc)
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    def _keep_opening(self, job: AuditJob) -> None:
        """The digest and salt on disk before the commit leaves (a restart can still reveal)."""
        assert job.digest is not None
        folder = self.state_dir / str(job.task_id)
        folder.mkdir(parents=True, exist_ok=True)
        opening = {"digest": job.digest.hex(), "salt": job.salt.hex()}
        (folder / "opening.json").write_text(json.dumps(opening))
