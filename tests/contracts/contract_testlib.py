"""Helpers for contract tests: custom-error assertions, time travel, commitments, task drivers,
struct views by field name, and the balance invariant."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from deploy.artifacts import load_artifact
from inference.audit.merkle import Commitment
from oracle.chain.audited import (
    EVIDENCE_WITHHELD_DIGEST,
    audit_commitment,
    challenge,
    sketch_opening,
)
from oracle.chain.views import TaskStatus
from oracle.chain.views import commitment as protocol_commitment

ETHER = 10**18
USE_DEFAULT = 0xFFFFFFFF
MODEL_ID = Web3.keccak(text="test-model")
INPUT = b'{"prompt":"A photo of a cat","seed":0}'


@dataclass
class Actors:
    """Named Anvil accounts: the oracle owner, 7 operators, a requester and an outsider."""

    owner: str
    operators: list[str]
    requester: str
    outsider: str


ERROR_SOURCES = (
    "GenerationOracle",
    "ModelRegistry",
    "OperatorDesk",
    "ExampleGenerationGallery",
    "GrindingRequester",
    "AuditedTasks",
    "IAuditHost",
    "TrainingTasks",
)


def _error_selectors() -> dict[bytes, str]:
    selectors: dict[bytes, str] = {}
    for name in ERROR_SOURCES:
        try:
            abi = load_artifact(name)["abi"]
        except Exception:  # an optional test contract that is not compiled
            continue
        for item in abi:
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
    if gas is None:
        # Estimate against the pending block: a transaction may first draw the committees whose
        # randomness (the previous block's hash) exists only from the next block on, which an
        # estimate against the latest block would not see.
        gas = fn.estimate_gas(params, block_identifier="pending") * 5 // 4 + 20_000
    params["gas"] = gas
    w3 = fn.w3
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact(params))
    assert receipt["status"] == 1
    return receipt


def commitment(
    w3: Web3, oracle: Contract, task_id: int, operator: str, digest: bytes, salt: bytes
) -> bytes:
    """A member's commitment on this chain (the protocol's rule: oracle.chain.views)."""
    return protocol_commitment(w3.eth.chain_id, oracle.address, task_id, operator, digest, salt)


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


def as_dict(contract: Contract, fn_name: str, value: Any) -> dict[str, Any]:
    """A struct returned by `fn_name` (its first output), as a dict keyed by field name."""
    for item in contract.abi:
        if item.get("type") == "function" and item["name"] == fn_name:
            names = [c["name"] for c in item["outputs"][0]["components"]]
            return dict(zip(names, value, strict=True))
    raise KeyError(fn_name)


def task_info(oracle: Contract, task_id: int, block: Any = "latest") -> dict[str, Any]:
    """getTask(task_id) by field name."""
    value = oracle.functions.getTask(task_id).call(block_identifier=block)
    return as_dict(oracle, "getTask", value)


def operator_info(oracle: Contract, operator: str) -> dict[str, Any]:
    """getOperator(operator) by field name."""
    return as_dict(oracle, "getOperator", oracle.functions.getOperator(operator).call())


def stake_of(oracle: Contract, operator: str) -> int:
    return int(operator_info(oracle, operator)["stake"])


def config_of(oracle: Contract) -> dict[str, Any]:
    return as_dict(oracle, "config", oracle.functions.config().call())


def registry(oracle: Contract) -> Contract:
    """The oracle's ModelRegistry (owner: the session deployer)."""
    return oracle.w3.eth.contract(
        address=oracle.functions.models().call(), abi=load_artifact("ModelRegistry")["abi"]
    )


def model_info(oracle: Contract, model_id: bytes) -> dict[str, Any]:
    models = registry(oracle)
    return as_dict(models, "getModel", models.functions.getModel(model_id).call())


def register_model(
    oracle: Contract,
    owner: str,
    model_id: bytes = MODEL_ID,
    kind: int = 0,
    scheme: str = "phash64",
    default_tolerance: int = 0x08000000,
    max_tolerance: int = 0x20101010,
    uri: str = "ipfs://test-model",
    audit_tolerance: int | None = None,
) -> Any:
    """Register a model, auditable at `audit_tolerance` (default: its default tolerance; 0: not
    auditable)."""
    models = registry(oracle)
    fn = models.functions.registerModel(
        model_id, kind, scheme, default_tolerance, max_tolerance, uri
    )
    receipt = send(fn, owner)
    audit = default_tolerance if audit_tolerance is None else audit_tolerance
    if audit:
        send(models.functions.setAuditTolerance(model_id, audit), owner)
    return receipt


def mine(w3: Web3) -> None:
    rpc(w3, "evm_mine", [])


@dataclass
class Task:
    id: int
    committee: list[str]
    fee: int
    entropy: bytes
    commit_deadline: int
    reveal_deadline: int
    receipt: Any
    draw_block: int = 0
    callback_gas: int = 0


def requested(oracle: Contract, receipt: Any) -> Task:
    """The (not yet drawn) task a request transaction opened, from its TaskRequested event."""
    event = oracle.events.TaskRequested().process_receipt(receipt, errors=DISCARD)[0]["args"]
    info = task_info(oracle, event["taskId"])
    return Task(
        id=event["taskId"],
        committee=[],
        fee=event["fee"],
        entropy=b"",
        commit_deadline=event["commitDeadline"],
        reveal_deadline=event["revealDeadline"],
        receipt=receipt,
        draw_block=event["drawBlock"],
        callback_gas=info["callbackGasLimit"],
    )


def draw(oracle: Contract, task: Task, sender: str) -> Task:
    """Draw every ready committee (a keeper's drawCommittees, in a later block than the request)
    and fill in `task`'s committee and entropy from the chain."""
    send(oracle.functions.drawCommittees(16), sender)
    committee, entropy = oracle.functions.committeeOf(task.id).call()
    task.committee = list(committee)
    task.entropy = bytes(entropy)
    return task


def required_fee(oracle: Contract, size: int, callback_gas: int = 0) -> int:
    return int(oracle.functions.requiredFee(size, callback_gas).call())


def request(
    oracle: Contract,
    requester: str,
    size: int = 3,
    tol: int = USE_DEFAULT,
    callback_gas: int = 0,
    fee: int | None = None,
    model: bytes = MODEL_ID,
    drawn: bool = True,
) -> Task:
    """Request a generation and (unless `drawn` is False) draw its committee in the next block."""
    if fee is None:
        fee = 10**15 * size + callback_gas * config_of(oracle)["callbackGasPrice"]
    receipt = send(
        oracle.functions.requestGeneration(model, INPUT, size, tol, callback_gas), requester, fee
    )
    task = requested(oracle, receipt)
    return draw(oracle, task, requester) if drawn else task


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


#: Escrowed task statuses: the fee is still held for the task.
ESCROWED = (TaskStatus.DRAWING, TaskStatus.OPEN)


def accounted_balance(oracle: Contract, people: list[str], task_ids: list[int]) -> int:
    """Sum of stakes and credits of `people`, escrowed fees of `task_ids` (Drawing/Open) and the
    treasury balance: what the oracle's ETH balance must equal when `people` covers every account
    holding stake or credit and `task_ids` every task."""
    w3 = oracle.w3
    with w3.batch_requests() as batch:
        for person in people:
            batch.add(oracle.functions.getOperator(person))
        for task_id in task_ids:
            batch.add(oracle.functions.getTask(task_id))
        for person in people:
            batch.add(oracle.functions.creditOf(person))
        batch.add(oracle.functions.treasuryBalance())
        results = batch.execute()
    n, t = len(people), len(task_ids)
    stakes = sum(as_dict(oracle, "getOperator", r)["stake"] for r in results[:n])
    tasks = [as_dict(oracle, "getTask", r) for r in results[n : n + t]]
    escrow = sum(info["fee"] for info in tasks if info["status"] in ESCROWED)
    credits = sum(results[n + t : n + t + n])
    return int(stakes + escrow + credits + results[n + t + n])


def assert_balance_invariant(oracle: Contract, people: list[str]) -> None:
    """The oracle holds exactly the stakes, escrowed fees, credits and treasury balance (every
    task of the chain is counted; `people` must cover every staker and credited account)."""
    task_ids = list(range(1, oracle.functions.taskCount().call() + 1))
    expected = accounted_balance(oracle, people, task_ids)
    assert oracle.w3.eth.get_balance(oracle.address) == expected


# ----------------------------------------------------------------------------------------------
# Audited mode (AuditedTasks): a thin typed client for tests, benchmarks and later node work
# ----------------------------------------------------------------------------------------------

#: The reserved digest an auditor reveals when the executor did not serve the challenged evidence.
EVIDENCE_WITHHELD = EVIDENCE_WITHHELD_DIGEST
audited_challenge = challenge


def audited_digest(sketches: Sequence[bytes], index: int) -> bytes:
    """What an honest auditor of challenged leaf `index` reveals: that leaf's sketch."""
    return sketches[index]


@dataclass
class AuditedTask:
    """An audited task as the client tracks it."""

    id: int
    fee: int
    receipt: Any
    executor: str = ""
    auditors: list[str] | None = None
    commit_deadline: int = 0
    reveal_deadline: int = 0
    submit_deadline: int = 0
    seed: bytes = b""
    result: bytes = b""


class AuditedClient:
    """Typed calls of AuditedTasks on an Anvil chain (unlocked accounts)."""

    def __init__(self, audited: Contract) -> None:
        self.contract = audited
        self.w3 = audited.w3

    def required_fee(self, auditors: int, callback_gas: int = 0) -> int:
        return int(self.contract.functions.requiredFee(auditors, callback_gas).call())

    def request(
        self,
        requester: str,
        auditors: int = 2,
        tol: int = USE_DEFAULT,
        callback_gas: int = 0,
        model: bytes = MODEL_ID,
        fee: int | None = None,
    ) -> AuditedTask:
        fee = self.required_fee(auditors, callback_gas) if fee is None else fee
        fn = self.contract.functions.requestAudited(model, INPUT, auditors, tol, callback_gas)
        receipt = send(fn, requester, fee)
        event = self.event(receipt, "AuditTaskRequested")[0]
        return AuditedTask(
            id=event["taskId"],
            fee=event["fee"],
            receipt=receipt,
            submit_deadline=event["submitDeadline"],
        )

    def event(self, receipt: Any, name: str) -> list[Any]:
        return events(self.contract, receipt, name)

    def draw(self, task: AuditedTask, sender: str) -> AuditedTask:
        """A keeper's drawAudits (in a later block), then the task's executor/auditors."""
        send(self.contract.functions.drawAudits(), sender)
        return self.refresh(task)

    def refresh(self, task: AuditedTask) -> AuditedTask:
        info = self.info(task.id)
        task.executor = info["members"][0]
        drawn = [a for a in info["members"][1:] if int(a, 16) != 0]
        task.auditors = drawn or None
        return task

    def info(self, task_id: int) -> dict[str, Any]:
        value = self.contract.functions.getAuditTask(task_id).call()
        return as_dict(self.contract, "getAuditTask", value)

    def submit(
        self, task: AuditedTask, result: bytes, commitment: Commitment, sender: str | None = None
    ) -> Any:
        fn = self.contract.functions.submitExecution(
            task.id,
            result,
            commitment.evidence.root,
            commitment.sketch_tree.root,
            commitment.sketch_tree.size,
        )
        receipt = send(fn, sender or task.executor)
        task.result = result
        event = self.event(receipt, "ExecutionSubmitted")[0]
        task.commit_deadline = event["commitDeadline"]
        task.reveal_deadline = self.contract.functions.getAuditTask(task.id).call()[7]
        return receipt

    def challenge(self, task: AuditedTask, leaf_count: int) -> int:
        index, seed = self.contract.functions.challengeOf(task.id, leaf_count).call()
        task.seed = bytes(seed)
        return int(index)

    def commitment(self, task: AuditedTask, auditor: str, digest: bytes) -> bytes:
        return audit_commitment(
            self.w3.eth.chain_id,
            self.contract.address,
            task.id,
            auditor,
            digest,
            salt_for(task.id, auditor),
        )

    def commit(self, task: AuditedTask, auditor: str, digest: bytes) -> Any:
        position = self.position(task, auditor)
        fn = self.contract.functions.commitAudit(
            task.id, position, self.commitment(task, auditor, digest)
        )
        return send(fn, auditor)

    def position(self, task: AuditedTask, auditor: str) -> int:
        assert task.auditors is not None, "auditors not drawn"
        return task.auditors.index(auditor) + 1

    def opening(self, task: AuditedTask, auditor: str, digest: bytes) -> tuple[Any, ...]:
        return (self.position(task, auditor), auditor, digest, salt_for(task.id, auditor))

    def reveal(self, task: AuditedTask, openings: list[tuple[Any, ...]], sender: str) -> Any:
        return send(self.contract.functions.revealAudits(task.id, openings), sender)

    def sketch_opening(self, task: AuditedTask, commitment: Commitment) -> tuple[Any, ...]:
        return sketch_opening(
            commitment,
            self.challenge(task, commitment.sketch_tree.size),
            task.executor,
            task.result,
        )

    def open(
        self,
        task: AuditedTask,
        commitment: Commitment,
        openings: list[tuple[Any, ...]] | None = None,
        sender: str | None = None,
        opening: tuple[Any, ...] | None = None,
    ) -> Any:
        opening = opening or self.sketch_opening(task, commitment)
        fn = self.contract.functions.openSketches(task.id, opening, openings or [])
        return send(fn, sender or task.executor)

    def resolve(self, task: AuditedTask, sender: str) -> Any:
        return send(self.contract.functions.resolveAudit(task.id), sender)

    def status(self, task: AuditedTask) -> int:
        return int(self.info(task.id)["status"])


def audited_consumer(client: AuditedClient, owner: str) -> Contract:
    """A deployed AuditedRecordingConsumer of `client`'s AuditedTasks (it requests audited tasks
    and records their callbacks)."""
    artifact = load_artifact("AuditedRecordingConsumer")
    factory = client.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = client.w3.eth.wait_for_transaction_receipt(
        factory.constructor(client.contract.address).transact({"from": owner})
    )
    return client.w3.eth.contract(address=receipt["contractAddress"], abi=factory.abi)


def make_commitment(leaves: int = 8, tag: str = "honest") -> Commitment:
    """An executor's commitment over `leaves` states with pseudo-random sketches."""
    states = [bytes(Web3.keccak(text=f"{tag}/state/{i}")) for i in range(leaves)]
    sketches = [bytes(Web3.keccak(text=f"{tag}/sketch/{i}")) for i in range(leaves)]
    return Commitment.build(states, sketches, bytes(Web3.keccak(text=f"{tag}/secret")))


def assert_audited_invariant(oracle: Contract, audited: Contract, people: list[str]) -> None:
    """The oracle's balance invariant (stakes, replicated escrow, credits, treasury) holds, and
    AuditedTasks holds exactly the fees of its open tasks."""
    assert_balance_invariant(oracle, people)
    open_fees = 0
    for slot in range(audited.functions.slotCount().call()):
        task_id = audited.functions.taskAt(slot).call()
        info = as_dict(audited, "getAuditTask", audited.functions.getAuditTask(task_id).call())
        if info["status"] in (1, 2, 3):
            open_fees += info["fee"]
    assert oracle.w3.eth.get_balance(audited.address) == open_fees
