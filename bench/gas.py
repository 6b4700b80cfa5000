"""Gas of every GenerationOracle call on a real Anvil, per committee size and operator-set size.

Each committee size runs both reveal paths: every member reveals in its own transaction (the last
one resolves), and the aggregated reveal, one revealBatch carrying every opening (the node's
default, oracle/aggregation.py).

Prints a table and one JSON line {"bench": "gas", ...}. Gas is deterministic, so "median of several
runs" here means several tasks per configuration (they differ in which members are drawn, so warm
and cold storage differ slightly). Targets (issue 2): a 3-member task (request + 3 commits +
3 reveals + resolve, payouts credited) <= 400,000 gas, reported for the aggregated reveal; the
request with 1000 registered operators <= 1.5x the request with 10.

Usage: python -m bench.gas [--tasks N] [--operator-counts 10,100,1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode
from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from deploy.anvil import AnvilProcess
from deploy.deployer import OracleConfig, deploy_oracle

ETHER = 10**18
MODEL_ID = Web3.keccak(text="bench-model")
INPUT = json.dumps(
    {"prompt": "A photo of a tabby cat", "seed": 0, "steps": 20, "width": 256, "height": 256},
    separators=(",", ":"),
).encode()
DIGEST = bytes.fromhex("c3a5" * 16)
TOLERANCE_DEFAULT = 0x0A000000
TOLERANCE_MAX = 0x20000000
USE_DEFAULT = 0xFFFFFFFF
CONFIG = OracleConfig(min_stake=ETHER, min_fee_per_member=10**15, max_callback_gas_limit=500_000)


@dataclass
class TaskGas:
    committee: int
    request: int
    commits: list[int] = field(default_factory=list)
    reveals: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.request + sum(self.commits) + sum(self.reveals)


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    return response["result"]


def _gas(w3: Web3, tx_hash: bytes) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction reverted: {tx_hash.hex()}")
    return int(receipt["gasUsed"])


def _operator_address(i: int) -> str:
    """A distinct, ordinary-looking address per operator (impersonated, so no key is needed)."""
    return Web3.to_checksum_address(Web3.keccak(text=f"bench-operator-{i}")[12:])


def register_operators(w3: Web3, oracle: Contract, count: int, start: int = 0) -> list[str]:
    """Register `count` impersonated operators with distinct stakes (1.0, 1.1, 1.2, ... ETH)."""
    addresses = [_operator_address(start + i) for i in range(count)]
    hashes = []
    for i, address in enumerate(addresses):
        _rpc(w3, "anvil_setBalance", [address, hex(1_000 * ETHER)])
        stake = ETHER + (start + i) % 10 * ETHER // 10
        hashes.append(
            oracle.functions.register(f"http://operator-{start + i}.example:8080").transact(
                {"from": Web3.to_checksum_address(address), "value": Wei(stake), "gas": 1_000_000}
            )
        )
    for tx_hash in hashes:
        _gas(w3, tx_hash)
    return addresses


def commitment(w3: Web3, oracle: Contract, task_id: int, operator: str, salt: bytes) -> bytes:
    return Web3.keccak(
        encode(
            ["uint256", "address", "uint256", "address", "bytes32", "bytes32"],
            [w3.eth.chain_id, oracle.address, task_id, operator, DIGEST, salt],
        )
    )


def run_task(
    w3: Web3, oracle: Contract, requester: str, committee_size: int, aggregated: bool = False
) -> TaskGas:
    """One full task in which every member agrees. Each member reveals in its own transaction
    (the last one resolves), or, `aggregated`, one member submits every opening in one
    revealBatch (the node's default path), which resolves."""
    fee = CONFIG.min_fee_per_member * committee_size
    tx_hash = oracle.functions.requestGeneration(
        MODEL_ID, INPUT, committee_size, USE_DEFAULT, 0
    ).transact({"from": Web3.to_checksum_address(requester), "value": Wei(fee)})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    event = oracle.events.TaskRequested().process_receipt(receipt)[0]["args"]
    task_id, committee = event["taskId"], event["committee"]
    gas = TaskGas(committee=committee_size, request=int(receipt["gasUsed"]))
    salts = {member: Web3.keccak(text=f"salt-{task_id}-{member}") for member in committee}
    for member in committee:
        c = commitment(w3, oracle, task_id, member, salts[member])
        gas.commits.append(_gas(w3, oracle.functions.commit(task_id, c).transact({"from": member})))
    if aggregated:
        openings = [(position, DIGEST, salts[member]) for position, member in enumerate(committee)]
        tx = oracle.functions.revealBatch(task_id, openings).transact({"from": committee[0]})
        gas.reveals.append(_gas(w3, tx))
    else:
        for member in committee:
            tx = oracle.functions.reveal(task_id, DIGEST, salts[member]).transact({"from": member})
            gas.reveals.append(_gas(w3, tx))
    status = oracle.functions.getTask(task_id).call()[2]
    if status != 2:
        raise RuntimeError(f"task {task_id} ended with status {status}, expected Resolved")
    return gas


def median_task(tasks: list[TaskGas]) -> dict[str, Any]:
    def med(values: list[int]) -> int:
        return int(statistics.median(values))

    size = tasks[0].committee
    aggregated = len(tasks[0].reveals) == 1 and size > 1
    row: dict[str, Any] = {
        "committee": size,
        "reveal_path": "aggregated" if aggregated else "individual",
        "request": med([t.request for t in tasks]),
    }
    row["commit"] = med([g for t in tasks for g in t.commits])
    row["reveal"] = (
        med([g for t in tasks for g in t.reveals[:-1]]) if len(tasks[0].reveals) > 1 else 0
    )
    row["last_reveal_resolve"] = med([t.reveals[-1] for t in tasks])
    row["total"] = med([t.total for t in tasks])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=5, help="tasks per configuration")
    parser.add_argument("--operator-counts", default="10,100,1000")
    args = parser.parse_args(argv)
    operator_counts = sorted(int(n) for n in args.operator_counts.split(","))

    with AnvilProcess(accounts=3, gas_limit=1_000_000_000) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
        _rpc(w3, "anvil_autoImpersonateAccount", [True])
        deployer = node.accounts()[0]
        deployment = deploy_oracle(w3, deployer, CONFIG, records_dir=None)
        oracle = deployment.oracle_contract(w3)
        oracle.functions.registerModel(
            MODEL_ID, 0, "phash64", TOLERANCE_DEFAULT, TOLERANCE_MAX, "ipfs://bench"
        ).transact({"from": deployer.address})
        requester = node.accounts()[1].address

        registered = register_operators(w3, oracle, operator_counts[0])
        rows = []
        for size in (1, 3, 5):
            for aggregated in (False, True) if size > 1 else (False,):
                tasks = [
                    run_task(w3, oracle, requester, size, aggregated) for _ in range(args.tasks)
                ]
                rows.append(median_task(tasks))

        scaling: dict[int, int] = {}
        for count in operator_counts:
            if count > len(registered):
                registered += register_operators(
                    w3, oracle, count - len(registered), len(registered)
                )
            requests = [run_task(w3, oracle, requester, 3).request for _ in range(args.tasks)]
            scaling[count] = int(statistics.median(requests))

    print(
        f"{'committee':>9} {'reveals':>10} {'request':>9} {'commit':>8} {'reveal':>8} "
        f"{'last/batch reveal':>18} {'total':>9}"
    )
    for row in rows:
        print(
            f"{row['committee']:>9} {row['reveal_path']:>10} {row['request']:>9,} "
            f"{row['commit']:>8,} {row['reveal']:>8,} {row['last_reveal_resolve']:>18,} "
            f"{row['total']:>9,}"
        )
    base = scaling[operator_counts[0]]
    print()
    print(f"{'operators':>9} {'request gas (3 members)':>24} {'vs ' + str(operator_counts[0]):>8}")
    for count, gas in scaling.items():
        print(f"{count:>9} {gas:>24,} {gas / base:>8.3f}x")

    def total_of(size: int, path: str) -> int:
        return int(
            next(r["total"] for r in rows if r["committee"] == size and r["reveal_path"] == path)
        )

    total3 = total_of(3, "aggregated")
    total3_individual = total_of(3, "individual")
    ratio = scaling[operator_counts[-1]] / base
    print()
    print(
        f"3-member task total: {total3:,} gas with the aggregated reveal (the node's default; "
        f"target <= 400,000); {total3_individual:,} when every member reveals alone "
        f"({total3 / total3_individual:.3f}x)"
    )
    print(
        f"request with {operator_counts[-1]} operators: {ratio:.3f}x the {operator_counts[0]} case "
        "(target <= 1.5x)"
    )
    result = {
        "bench": "gas",
        "tasks_per_config": args.tasks,
        "per_committee": rows,
        "request_gas_by_operators": {str(k): v for k, v in scaling.items()},
        "request_ratio_max_vs_min": round(ratio, 4),
        "total_3_member_task": total3,
        "total_3_member_task_individual_reveals": total3_individual,
        "targets_met": total3 <= 400_000 and ratio <= 1.5,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
