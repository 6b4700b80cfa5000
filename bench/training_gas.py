"""Gas of a training task's rounds (TrainingTasks, a committee of 3) on a real Anvil:
``gas_per_round``.

A round is: three members' commits (the first commit of round 0 also draws the committee, out
of turn: the node's path, which learns its seat from ``membersOf``) and one reveal carrying the
three openings, which resolves the round: the tolerant majority, the canonical checkpoint, the
settlement through the oracle (fees credited), and the next round's start; after the last round
the model's registration and the requester's callback slot instead. ``gas_per_round`` is the
median over 3 tasks of a task's mean round (3 rounds each); the request is reported apart.

    python -m bench.training_gas [--tasks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from hashlib import sha256
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from bench.gas import (
    MODEL_ID,
    _gas,
    bench_chain,
    register_operators,
)
from deploy.training import training_at
from oracle.chain.training import TrainingRequest, round_commitment, round_opening

COMMITTEE = 3
ROUNDS = 3
SPEC = b'{"base_model":"digits","batch_size":16,"rounds":3,"steps_per_round":10}'


def run_task(w3: Web3, training: Contract, requester: str, n: int, rounds: int) -> dict[str, int]:
    """One honest training task; gas of the request and of each round."""
    fee = training.functions.requiredFee(COMMITTEE, rounds, 0).call()
    request = TrainingRequest(
        MODEL_ID, sha256(b"data").digest(), n, rounds, 10, committee_size=COMMITTEE
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        training.functions.requestTraining(request.as_tuple(), SPEC).transact(
            {"from": requester, "value": Wei(fee)}
        )
    )
    gas = {"request": int(receipt["gasUsed"])}
    event = training.events.TrainingRequested().process_receipt(receipt)[0]
    task_id = int(event["args"]["taskId"])
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    members = [str(m) for m in training.functions.membersOf(task_id).call()]

    def send(fn: Any, sender: str) -> int:
        # Estimated against the pending block: a lazy draw needs the previous block's hash.
        limit = fn.estimate_gas({"from": sender}, block_identifier="pending") * 5 // 4 + 20_000
        return _gas(w3, fn.transact({"from": sender, "gas": limit}))

    chain_id = w3.eth.chain_id
    for r in range(rounds):
        used = 0
        openings = []
        base = bytes(Web3.keccak(text=f"digest/{n}/{r}"))
        for position, member in enumerate(members):
            checkpoint = sha256(f"checkpoint/{n}/{r}/{member}".encode()).digest()
            salt = bytes(Web3.keccak(text=f"salt/{n}/{r}/{member}"))
            sealed = round_commitment(
                chain_id, training.address, task_id, r, member, base, checkpoint, salt
            )
            used += send(training.functions.commitRound(task_id, r, position, sealed), member)
            openings.append(round_opening(position, member, base, checkpoint, salt))
        used += send(training.functions.revealRound(task_id, r, openings), members[0])
        gas[f"round_{r}"] = used
    info = training.functions.getTrainingTask(task_id).call()
    assert info[4] == 3, f"task {task_id} not Completed: status {info[4]}"
    return gas


def measure(tasks: int = 3, rounds: int = ROUNDS, operators: int = 10) -> dict[str, Any]:
    """Run `tasks` training tasks of `rounds` rounds on a fresh Anvil; medians."""
    with bench_chain(accounts=2) as chain:
        w3 = chain.w3
        assert chain.deployment.training is not None
        training = training_at(w3, chain.deployment.training)
        register_operators(w3, chain.oracle, operators)
        requester = chain.accounts[0]
        runs = [run_task(w3, training, requester, i, rounds) for i in range(tasks)]
    per_round = [sum(r[f"round_{i}"] for i in range(rounds)) / rounds for r in runs]
    steps = {key: int(statistics.median(r[key] for r in runs)) for key in runs[0]}
    return {
        "gas_per_round": int(statistics.median(per_round)),
        "gas_training_steps": steps,
        "gas_training_committee": COMMITTEE,
        "gas_training_rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=3, help="tasks (median)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per task")
    args = parser.parse_args(argv)
    figures = measure(args.tasks, args.rounds)
    print(", ".join(f"{k} {v:,}" for k, v in figures["gas_training_steps"].items()))
    print(f"gas_per_round: {figures['gas_per_round']:,} (committee of {COMMITTEE})")
    print(json.dumps({"bench": "training_gas", **figures}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
