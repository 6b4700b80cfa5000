"""The demo's audited act: the example dApp asks for an audited image and completion (one
executor, two auditors who recompute a challenged part), and what happened is read back from the
chain's events: the submitted (unaudited) digest, the verdict, the slashes and the credits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import Wei

from deploy.deployer import Deployment, send_transaction
from oracle.dev.demo_requests import DemoRequest, callback_of
from oracle.dev.localnet import ETHER
from oracle.sdk.audited import AuditedResult

AUDITORS = 2


@dataclass
class DemoAuditedTask:
    """What happened to one audited request, as read back from the chain."""

    request: DemoRequest
    task_id: int
    result: AuditedResult
    submitted: str | None
    """The executor's result digest, public (unaudited) as soon as it was submitted."""
    failure: str | None
    """Why it was rejected (outvoted, evidence withheld...), None if verified."""
    slashed: dict[str, int]
    credited: dict[str, int]
    callback_status: str
    callback_digest: str | None


def request_audited_through_consumer(
    w3: Web3,
    consumer: Contract,
    audited: Contract,
    patron: LocalAccount,
    model_id: bytes,
    request: DemoRequest,
) -> int:
    """The dApp's audited entry point: it pays AuditedTasks' required fee and is called back."""
    callback_gas = int(consumer.functions.CALLBACK_GAS().call())
    fee = int(audited.functions.requiredFee(AUDITORS, callback_gas).call())
    call = consumer.functions.requestAuditedGeneration(model_id, request.canonical_input, AUDITORS)
    tx = call.build_transaction({"from": patron.address, "value": Wei(fee)})
    del tx["gas"]
    receipt = send_transaction(w3, patron, tx)
    events = consumer.events.GenerationRequested().process_receipt(receipt, errors=DISCARD)
    return int(events[0]["args"]["taskId"])


#: IAuditedTasks.AuditFailure, as printed.
AUDIT_FAILURES = (
    "none",
    "not drawn",
    "not submitted",
    "expired",
    "no consensus",
    "executor outvoted",
    "evidence withheld",
)


def audited_outcome(
    audited: Contract,
    consumer: Contract,
    request: DemoRequest,
    result: AuditedResult,
    deployment: Deployment,
) -> DemoAuditedTask:
    """Slashes, credits and the failure reason of a final audited task, from its events, and
    what the dApp recorded."""
    oracle = deployment.oracle_contract(audited.w3)
    from_block = deployment.block_number
    callback_status, callback_digest = callback_of(consumer, result.task_id)
    task_filter = {"taskId": result.task_id}
    slashed = {
        str(e["args"]["operator"]): int(e["args"]["amount"])
        for e in audited.events.AuditSlashed().get_logs(
            from_block=from_block, argument_filters=task_filter
        )
    }
    # What the oracle credited the members when the task ended (fees, or the slashed executor's
    # stake shared by the auditors): their credit after the resolving block against before it
    # (the settlement emits no per-member log; Anvil mines one transaction per block).
    members = {result.executor, *result.auditors}
    credited: dict[str, int] = {}
    ended = [
        *audited.events.AuditResolved().get_logs(
            from_block=from_block, argument_filters=task_filter
        ),
        *audited.events.AuditFailed().get_logs(from_block=from_block, argument_filters=task_filter),
    ]
    for end in ended:
        block = int(end["blockNumber"])
        for account in members:
            after = int(oracle.functions.creditOf(account).call(block_identifier=block))
            before = int(oracle.functions.creditOf(account).call(block_identifier=block - 1))
            if after > before:
                credited[account] = after - before
    submitted = None
    for event in audited.events.ExecutionSubmitted().get_logs(
        from_block=from_block, argument_filters=task_filter
    ):
        submitted = "0x" + bytes(event["args"]["unauditedDigest"]).hex()
    failure = None
    for event in audited.events.AuditFailed().get_logs(
        from_block=from_block, argument_filters=task_filter
    ):
        reason = int(event["args"]["reason"])
        failure = AUDIT_FAILURES[reason]
    return DemoAuditedTask(
        request,
        result.task_id,
        result,
        submitted,
        failure,
        slashed,
        credited,
        callback_status,
        callback_digest,
    )


def print_audited_task(
    echo: Callable[[str], None], task: DemoAuditedTask, roles: dict[str, str]
) -> None:
    result = task.result
    echo(
        f"== Audited task {task.task_id}: {task.request.kind} from {task.request.model} "
        f"(1 executor, {len(result.auditors)} auditors)"
    )
    echo(f"   executor   {result.executor} {roles.get(result.executor, '?'):>6}")
    for auditor in result.auditors:
        echo(f"   auditor    {auditor} {roles.get(auditor, '?'):>6}")
    echo(f"   submitted  {task.submitted} (public at once, marked unaudited)")
    verdict = result.status if task.failure is None else f"{result.status} ({task.failure})"
    echo(f"   status     {verdict}; verified digest {result.digest}")
    for account, wei in task.credited.items():
        echo(f"   paid       {account} {roles.get(account, '?'):>6}  +{wei / ETHER:.6f} ETH")
    for account, wei in task.slashed.items():
        echo(f"   slashed    {account} {roles.get(account, '?'):>6}  -{wei / ETHER:.6f} ETH")
    echo(f"   callback   dApp recorded '{task.callback_status}' with digest {task.callback_digest}")
    echo("")
