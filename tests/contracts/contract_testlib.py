"""Helpers for contract tests: custom-error assertions, time travel, commitments, task drivers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from deploy.artifacts import load_artifact

ETHER = 10**18
USE_DEFAULT = 0xFFFFFFFF
MODEL_ID = Web3.keccak(text="test-model")
INPUT = b'{"prompt":"A photo of a cat","seed":0}'
INVALID_INPUT_DIGEST = Web3.keccak(text="genoracle.invalid-input")


@dataclass
class Actors:
    """Named Anvil accounts: the oracle owner, 7 operators, a requester and an outsider."""

    owner: str
    operators: list[str]
    requester: str
    outsider: str


class Status:
    NONE, OPEN, RESOLVED, NO_CONSENSUS, EXPIRED = range(5)


class Phase:
    NONE, COMMIT, REVEAL, RESOLVABLE, FINISHED = range(5)


def _error_selectors() -> dict[bytes, str]:
    selectors: dict[bytes, str] = {}
    for name in ("GenerationOracle", "ExampleGenerationGallery"):
        for item in load_artifact(name)["abi"]:
            if item["type"] == "error":
                types = ",".join(i["type"] for i in item["inputs"])
                selectors[function_signature_to_4byte_selector(f"{item['name']}({types})")] = item[
                    "name"
                ]
    return selectors


ERRORS = _error_selectors()


def error_name(exc: BaseException) -> str:
    """The custom error name carried by a revert exception (or its raw text)."""
    data: Any = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return ERRORS.get(bytes.fromhex(data[2:10]), data[:10])
    return str(exc)


@contextmanager
def reverts(name: str) -> Iterator[None]:
    """Assert the block raises a revert with custom error `name`."""
    try:
        yield
    except (ContractCustomError, ContractLogicError, Web3RPCError) as exc:
        assert error_name(exc) == name, f"expected {name}, got {error_name(exc)}: {exc}"
    else:
        raise AssertionError(f"expected revert {name}, but the call succeeded")


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def warp_past(w3: Web3, deadline: int) -> None:
    """Mine an empty block one second after `deadline`, so the deadline has passed."""
    rpc(w3, "evm_mine", [deadline + 1])


def send(fn: Any, sender: str, value: int = 0, gas: int | None = None) -> Any:
    """Send a contract call from an unlocked Anvil account; return the receipt (must succeed)."""
    params: dict[str, Any] = {"from": sender, "value": value}
    if gas is not None:
        params["gas"] = gas
    w3 = fn.w3
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact(params))
    assert receipt["status"] == 1
    return receipt


def commitment(
    w3: Web3, oracle: Contract, task_id: int, operator: str, digest: bytes, salt: bytes
) -> bytes:
    return bytes(
        Web3.keccak(
            encode(
                ["uint256", "address", "uint256", "address", "bytes32", "bytes32"],
                [w3.eth.chain_id, oracle.address, task_id, operator, digest, salt],
            )
        )
    )


def salt_for(task_id: int, operator: str) -> bytes:
    return bytes(Web3.keccak(text=f"salt/{task_id}/{operator}"))


def digest_with_flips(base: bytes, lane: int, bits: int) -> bytes:
    """`base` with the lowest `bits` bits of 64-bit lane `lane` (0 = most significant) flipped."""
    value = int.from_bytes(base, "big")
    shift = 64 * (3 - lane)
    value ^= ((1 << bits) - 1) << shift
    return value.to_bytes(32, "big")


def tolerance(*lanes: int) -> int:
    t = 0
    for lane in lanes:
        t = (t << 8) | lane
    return t


@dataclass
class Task:
    id: int
    committee: list[str]
    fee: int
    entropy: bytes
    commit_deadline: int
    reveal_deadline: int
    receipt: Any


def request(
    oracle: Contract,
    requester: str,
    size: int = 3,
    tol: int = USE_DEFAULT,
    callback_gas: int = 0,
    fee: int | None = None,
    model: bytes = MODEL_ID,
) -> Task:
    fee = 10**15 * size if fee is None else fee
    receipt = send(
        oracle.functions.requestGeneration(model, INPUT, size, tol, callback_gas), requester, fee
    )
    event = oracle.events.TaskRequested().process_receipt(receipt)[0]["args"]
    return Task(
        id=event["taskId"],
        committee=list(event["committee"]),
        fee=event["fee"],
        entropy=bytes(event["entropy"]),
        commit_deadline=event["commitDeadline"],
        reveal_deadline=event["revealDeadline"],
        receipt=receipt,
    )


def commit_all(
    w3: Web3, oracle: Contract, task: Task, digests: dict[str, bytes], members: list[str]
) -> None:
    for member in members:
        c = commitment(w3, oracle, task.id, member, digests[member], salt_for(task.id, member))
        send(oracle.functions.commit(task.id, c), member)


def reveal(w3: Web3, oracle: Contract, task: Task, member: str, digest: bytes) -> Any:
    return send(oracle.functions.reveal(task.id, digest, salt_for(task.id, member)), member)


def run_task(
    w3: Web3,
    oracle: Contract,
    task: Task,
    digests: dict[str, bytes] | list[bytes],
    commit_members: list[str] | None = None,
    reveal_members: list[str] | None = None,
) -> Any:
    """Commit and reveal for the given members (default: all, in committee order)."""
    if isinstance(digests, list):
        digests = dict(zip(task.committee, digests, strict=True))
    commit_members = task.committee if commit_members is None else commit_members
    reveal_members = commit_members if reveal_members is None else reveal_members
    commit_all(w3, oracle, task, digests, commit_members)
    if set(commit_members) != set(task.committee) and reveal_members:
        warp_past(w3, task.commit_deadline)
    receipt = None
    for member in reveal_members:
        receipt = reveal(w3, oracle, task, member, digests[member])
    return receipt


def events(oracle: Contract, receipt: Any, name: str) -> list[Any]:
    return [
        e["args"] for e in getattr(oracle.events, name)().process_receipt(receipt, errors=DISCARD)
    ]
