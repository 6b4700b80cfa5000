"""Gas of one audited task (AuditedTasks, 2 auditors) on a real Anvil: ``gas_audited_task``.

A task is: the request; the executor's draw; the executor's submission; the auditors' draw (with
the challenge); two auditors' commits; the executor's opening of its challenged sketch carrying
both auditors' openings (the aggregated reveal), which resolves, pays and credits. Two draw paths:
``lazy`` (the submission draws its own executor and the first commit draws the auditors, out of
turn: the node's path, which learns its role from ``membersOf``) and ``keeper`` (a keeper's
``drawAudits`` transaction per draw, counted in full). Target (issue 15):
``gas_audited_task`` (the lazy path) <= 400,000.

    python -m bench.audit_gas [--tasks N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from bench.gas import (
    INPUT,
    MODEL_ID,
    TOLERANCE_DEFAULT,
    _gas,
    bench_chain,
    register_operators,
)
from deploy.deployer import audited_at
from inference.audit.merkle import Commitment
from oracle.chain.audited import audit_commitment, challenge, sketch_opening

AUDITORS = 2
STEPS = 20  # leaves of the executor's trees (a 20-step diffusion)
TARGET = 400_000
USE_DEFAULT = 0xFFFFFFFF


def run_task(
    w3: Web3, audited: Contract, requester: str, keeper: str, lazy: bool, n: int
) -> dict[str, int]:
    """One honest audited task; gas per step."""
    gas: dict[str, int] = {}
    fee = audited.functions.requiredFee(AUDITORS, 0).call()
    tx = audited.functions.requestAudited(MODEL_ID, INPUT, AUDITORS, USE_DEFAULT, 0).transact(
        {"from": requester, "value": Wei(fee)}
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    gas["request"] = int(receipt["gasUsed"])
    task_id = audited.events.AuditTaskRequested().process_receipt(receipt)[0]["args"]["taskId"]

    def send(name: str, fn: Any, sender: str) -> None:
        # Estimated against the pending block: a lazy draw needs the previous block's hash.
        limit = fn.estimate_gas({"from": sender}, block_identifier="pending") * 5 // 4 + 20_000
        gas[name] = gas.get(name, 0) + _gas(w3, fn.transact({"from": sender, "gas": limit}))

    if lazy:
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        executor = audited.functions.membersOf(task_id).call()[0]
    else:
        send("draw_executor", audited.functions.drawAudits(), keeper)
        executor = audited.functions.membersOf(task_id).call()[0]
    states = [bytes(Web3.keccak(text=f"state/{n}/{i}")) for i in range(STEPS)]
    sketches = [bytes(Web3.keccak(text=f"sketch/{n}/{i}")) for i in range(STEPS)]
    commitment = Commitment.build(states, sketches, bytes(Web3.keccak(text=f"secret/{n}")))
    result = bytes(Web3.keccak(text=f"result/{n}"))
    send(
        "submit",
        audited.functions.submitExecution(
            task_id, result, commitment.evidence.root, commitment.sketch_tree.root, STEPS
        ),
        executor,
    )
    if lazy:
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        auditors = list(audited.functions.membersOf(task_id).call()[1:])
    else:
        send("draw_auditors", audited.functions.drawAudits(), keeper)
        auditors = list(audited.functions.getAuditTask(task_id).call()[12])[1:]
    index, seed = audited.functions.challengeOf(task_id, STEPS).call(block_identifier="pending")
    assert index == challenge(bytes(seed), STEPS), (index, challenge(bytes(seed), STEPS))
    digest = commitment.sketches[index]
    openings = []
    for position, auditor in enumerate(auditors, start=1):
        salt = bytes(Web3.keccak(text=f"salt/{n}/{auditor}"))
        sealed = audit_commitment(w3.eth.chain_id, audited.address, task_id, auditor, digest, salt)
        step = "commit_first" if position == 1 else "commit"
        send(step, audited.functions.commitAudit(task_id, position, sealed), auditor)
        openings.append((position, auditor, digest, salt))
    opening = sketch_opening(commitment, index, executor, result)
    send("open_resolve", audited.functions.openSketches(task_id, opening, openings), executor)
    info = audited.functions.getAuditTask(task_id).call()
    assert info[2] == 4, f"task {task_id} not Resolved: status {info[2]}"
    gas["total"] = sum(gas.values())
    return gas


def measure(tasks: int = 5, operators: int = 10) -> dict[str, Any]:
    """Run `tasks` audited tasks per draw path on a fresh Anvil; medians per step."""
    with bench_chain(audit_tolerance=TOLERANCE_DEFAULT) as chain:
        w3 = chain.w3
        assert chain.deployment.audited is not None
        audited = audited_at(w3, chain.deployment.audited)
        register_operators(w3, chain.oracle, operators)
        requester, keeper = chain.accounts
        # One task first, so the draw queue's ring slots are warm as on a running chain.
        run_task(w3, audited, requester, keeper, True, -1)
        paths: dict[str, dict[str, int]] = {}
        for lazy in (True, False):
            runs = [run_task(w3, audited, requester, keeper, lazy, i) for i in range(tasks)]
            paths["lazy" if lazy else "keeper"] = {
                key: int(statistics.median(r[key] for r in runs)) for key in runs[0]
            }
    return {
        "gas_audited_task": paths["lazy"]["total"],
        "gas_audited_task_keeper_draws": paths["keeper"]["total"],
        "gas_audited_steps": paths,
        "gas_audited_target_met": paths["lazy"]["total"] <= TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=5, help="tasks per draw path (medians)")
    args = parser.parse_args(argv)
    figures = measure(args.tasks)
    for path, steps in figures["gas_audited_steps"].items():
        print(f"{path:>7}: " + ", ".join(f"{k} {v:,}" for k, v in steps.items()))
    print(
        f"gas_audited_task: {figures['gas_audited_task']:,} (lazy draws; target <= {TARGET:,}); "
        f"{figures['gas_audited_task_keeper_draws']:,} with a keeper's drawAudits per draw"
    )
    print(json.dumps({"bench": "audit_gas", **figures}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
