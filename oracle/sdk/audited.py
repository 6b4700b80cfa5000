"""Requester SDK, audited mode (AuditedTasks): one executor generates, `auditors` nodes recompute
a challenged part. About one generation's cost instead of a committee's n.

    task = client.submit_audited("tiny-sd", {"prompt": "a red fox", "width": 64, "steps": 6})
    result = client.wait_audited(task.task_id, timeout_s=120)
    print(result.status, result.digest, result.verified)

A text task takes the replicated mode's text input (greedy: `num_beams` 1) and is verified to the
same digest (sha256 of the generated tokens):

    task = client.submit_audited("tiny-llama", {"prompt": "The verifier said", "max_new_tokens": 8})

Its tolerance compares the auditors' hidden-state sketches, so the SDK asks for the model's
calibrated sketch threshold in every lane (`OracleClient.audited_tolerance`).

The executor's digest is public as soon as it is submitted (`unaudited_digest`), before the
auditors judged it; `digest` is set once it is verified (status "resolved"). An input the nodes
refuse (malformed, over the model's compute budget, another scheduler, beam search) ends with
status "invalid input": the executor said so and the auditors agreed; nobody is slashed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.audited import AUDITED_CONTRACT
from oracle.chain.client import ChainClient
from oracle.chain.contract import load_abi
from oracle.chain.views import audited_address
from oracle.errors import OracleError, TaskTimeoutError

AUDITOR_COUNTS = (2, 4)
FEE_UNIT_WEI = 10**9
"""AuditedTasks escrows fees in whole gwei (one storage word per task holds the fee with the
terms); a fee that is not a multiple is refused before it is sent."""
USE_DEFAULT_TOLERANCE = 0xFFFFFFFF
STATUSES = (
    "none",
    "drawing",
    "executing",
    "auditing",
    "resolved",
    "rejected",
    "no-consensus",
    "expired",
)
#: A task resolved on the reserved invalid-input digest: every member refused the input.
INVALID_INPUT = "invalid input"
FINAL = ("resolved", "rejected", "no-consensus", "expired", INVALID_INPUT)


@dataclass(frozen=True)
class AuditedResult:
    """An audited task as it stands: its members (executor first, then the auditors; empty
    strings while not drawn), the executor's unaudited digest and the verified one."""

    task_id: int
    status: str
    executor: str
    auditors: tuple[str, ...]
    unaudited_digest: str | None
    digest: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def verified(self) -> bool:
        return self.status == "resolved"


def audited_client(chain: ChainClient) -> ChainClient:
    """A client of the AuditedTasks contract attached to `chain`'s oracle (same RPC, account)."""
    address = audited_address(chain)
    if address is None:
        raise OracleError(f"oracle {chain.address} has no AuditedTasks attached (audited mode)")
    return ChainClient(
        chain.settings, chain.account, oracle_address=address, abi=load_abi(AUDITED_CONTRACT)
    )


def request_audited(
    audited: ChainClient,
    model_id: bytes,
    data: bytes,
    auditors: int,
    tolerance: int | None,
    fee_wei: int | None,
    callback_gas_limit: int,
) -> tuple[int, str, int, int]:
    """Send requestAudited; returns (task id, tx hash, block, fee)."""
    if auditors not in AUDITOR_COUNTS:
        raise OracleError(f"an audited task has 2 or 4 auditors, not {auditors}")
    if fee_wei is not None and fee_wei % FEE_UNIT_WEI:
        whole = -(-fee_wei // FEE_UNIT_WEI) * FEE_UNIT_WEI
        raise OracleError(
            f"an audited task's fee is escrowed in whole gwei: {fee_wei} wei is not a multiple "
            f"of {FEE_UNIT_WEI}; send {whole} wei"
        )
    fee = (
        int(audited.view("requiredFee", auditors, callback_gas_limit))
        if fee_wei is None
        else fee_wei
    )
    receipt = audited.transact(
        "requestAudited",
        model_id,
        data,
        auditors,
        USE_DEFAULT_TOLERANCE if tolerance is None else tolerance,
        callback_gas_limit,
        value=fee,
    )
    for event in audited.receipt_events(receipt):
        if event["event"] == "AuditTaskRequested":
            return (
                int(event["args"]["taskId"]),
                receipt["transactionHash"].to_0x_hex(),
                int(receipt["blockNumber"]),
                fee,
            )
    raise OracleError("requestAudited was mined but emitted no AuditTaskRequested event")


def audited_result(audited: ChainClient, task_id: int, from_block: int = 0) -> AuditedResult:
    """The task as it stands (`from_block`: where to look for its submission's log)."""
    info = audited.view("getAuditTask", task_id)
    members = [to_checksum_address(m) for m in info["members"]]
    drawn = [m if int(m, 16) else "" for m in members]
    status = STATUSES[int(info["status"])]
    unaudited_hex = None
    if status == "resolved" and bytes(info["resultDigest"]) == INVALID_INPUT_DIGEST:
        status = INVALID_INPUT  # resolved, but on the reserved digest: nothing was generated
    elif status == "resolved":
        unaudited_hex = "0x" + bytes(info["resultDigest"]).hex()
    elif status == "auditing":
        # The contract keeps only a hash of the submission; the digest is in its event.
        topics = [audited.event_topic("ExecutionSubmitted"), "0x" + f"{task_id:064x}"]
        for event in audited.logs(from_block, audited.block_number(), topics=topics):
            unaudited_hex = "0x" + bytes(event["args"]["unauditedDigest"]).hex()
    return AuditedResult(
        task_id=task_id,
        status=status,
        executor=drawn[0],
        auditors=tuple(drawn[1:]),
        unaudited_digest=unaudited_hex,
        digest=unaudited_hex if status == "resolved" else None,
    )


def wait_audited(
    audited: ChainClient, task_id: int, timeout_s: float, poll_s: float, from_block: int = 0
) -> AuditedResult:
    deadline = time.monotonic() + timeout_s
    while True:
        result = audited_result(audited, task_id, from_block)
        if result.final:
            return result
        if time.monotonic() >= deadline:
            raise TaskTimeoutError(
                f"audited task {task_id} still {result.status} after {timeout_s:.0f} s"
            )
        time.sleep(poll_s)
