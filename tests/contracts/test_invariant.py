"""Stateful fuzzing on Anvil: random sequences of operator (register, stake, serve or stop serving
one of two models, pause, exit), requester, keeper (drawCommittees, resolve) and committee
actions (commits, reveals, batches, expiries after partial commits), with time jumps, checking
after every step that the oracle's ETH balance equals the sum of stakes, escrowed fees of Drawing
and Open tasks, credited balances and the treasury balance (nothing created or lost), and that
each model's pool totals match its operators' draw weights.

The rule set plays the roles a handler would: it only sends calls that a participant could make
(some of them failing on purpose), so sequences explore deep states instead of reverting early.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from contract_testlib import (
    ETHER,
    INPUT,
    MODEL_ID,
    USE_DEFAULT,
    accounted_balance,
    commitment,
    register_model,
    rpc,
    salt_for,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from deploy.deployer import Deployment
from inference.digests import INVALID_INPUT_DIGEST

DIGESTS = [
    bytes.fromhex("0123456789abcdef" * 4),
    bytes.fromhex("0123456789abcdee" * 4),
    bytes.fromhex("f0f0f0f0f0f0f0f0" * 4),
    INVALID_INPUT_DIGEST,
]
#: Two models, so operators serve different sets and draws come from different pools.
MODELS = [MODEL_ID, Web3.keccak(text="fuzz-second-model")]
EXPECTED_REVERTS = (ContractCustomError, ContractLogicError, Web3RPCError)
STATS = {"sequences": 0, "steps": 0, "transactions": 0}


class OracleMachine(RuleBasedStateMachine):
    """Built per test run by `make_machine` with the session chain bound in."""

    w3: ClassVar[Web3]
    deployment: ClassVar[Deployment]
    people: ClassVar[list[str]]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = rpc(self.w3, "evm_snapshot", [])
        self.oracle: Contract = self.deployment.oracle_contract(self.w3)
        self.tasks: list[int] = []
        self.digests: dict[tuple[int, str], bytes] = {}
        STATS["sequences"] += 1

    def teardown(self) -> None:
        rpc(self.w3, "evm_revert", [self.snapshot])

    def _send(self, fn: Any, sender: str, value: int = 0) -> bool:
        STATS["transactions"] += 1
        params = {"from": sender, "value": value}
        try:
            # Against the pending block: the call may first draw committees (see contract_testlib).
            gas = fn.estimate_gas(params, block_identifier="pending")
            tx = fn.transact({**params, "gas": gas * 5 // 4 + 20_000})
        except EXPECTED_REVERTS:
            return False
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        return bool(receipt["status"] == 1)

    def _committee(self, task_id: int) -> list[str]:
        """The task's committee: drawn, or the preview of the draw the next block would make."""
        committee, _ = self.oracle.functions.committeeOf(task_id).call(block_identifier="pending")
        return list(committee)

    def _commit(self, task_id: int, member: str, digest: bytes) -> None:
        c = commitment(self.w3, self.oracle, task_id, member, digest, salt_for(task_id, member))
        if self._send(self.oracle.functions.commit(task_id, c), member):
            self.digests[(task_id, member)] = digest

    @initialize()
    def setup(self) -> None:
        owner = self.people[0]
        register_model(self.oracle, owner, MODELS[0], 0, "phash64", 0x04000000, 0x10000000, "")
        register_model(self.oracle, owner, MODELS[1], 1, "sha256-tokens", 0, 0, "")
        for n, op in enumerate(self.people[1:6]):
            served = MODELS if n < 4 else MODELS[1:]
            self._send(self.oracle.functions.register("http://fuzz.test", served), op, 2 * ETHER)

    @rule(who=st.integers(1, 8), stake=st.integers(0, 4 * ETHER), served=st.integers(0, 3))
    def register(self, who: int, stake: int, served: int) -> None:
        models = [m for bit, m in enumerate(MODELS) if served >> bit & 1]
        fn = self.oracle.functions.register("http://fuzz.test", models)
        self._send(fn, self.people[who], stake)

    @rule(who=st.integers(1, 8), amount=st.integers(0, 2 * ETHER))
    def add_stake(self, who: int, amount: int) -> None:
        self._send(self.oracle.functions.addStake(), self.people[who], amount)

    @rule(who=st.integers(1, 8), model=st.sampled_from(MODELS), serve=st.booleans())
    def serve_or_stop_serving(self, who: int, model: bytes, serve: bool) -> None:
        functions = self.oracle.functions
        call = functions.serveModel if serve else functions.stopServingModel
        self._send(call(model), self.people[who])

    @rule(who=st.integers(1, 8))
    def exit_or_withdraw(self, who: int) -> None:
        person = self.people[who]
        if not self._send(self.oracle.functions.withdrawStake(), person):
            self._send(self.oracle.functions.requestExit(), person)

    @rule(who=st.integers(1, 8), pause=st.booleans())
    def pause_or_resume(self, who: int, pause: bool) -> None:
        call = (
            self.oracle.functions.pauseAssignments
            if pause
            else self.oracle.functions.resumeAssignments
        )
        self._send(call(), self.people[who])

    @rule(who=st.integers(0, 9))
    def claim(self, who: int) -> None:
        self._send(self.oracle.functions.claim(), self.people[who])

    @rule()
    def withdraw_treasury(self) -> None:
        self._send(self.oracle.functions.withdrawTreasury(), self.people[9])

    @rule(
        size=st.sampled_from([1, 3, 5]),
        extra=st.integers(0, 10**15 + 7),
        model=st.sampled_from(MODELS),
        callback_gas=st.sampled_from([0, 0, 60_000]),
    )
    def request(self, size: int, extra: int, model: bytes, callback_gas: int) -> None:
        fn = self.oracle.functions.requestGeneration(model, INPUT, size, USE_DEFAULT, callback_gas)
        fee = self.oracle.functions.requiredFee(size, callback_gas).call() + extra
        if self._send(fn, self.people[9], fee):
            self.tasks.append(self.oracle.functions.taskCount().call())

    @rule(max_tasks=st.sampled_from([1, 16]))
    def draw_committees(self, max_tasks: int) -> None:
        self._send(self.oracle.functions.drawCommittees(max_tasks), self.people[9])

    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        if not self.tasks:
            return
        task_id = data.draw(st.sampled_from(self.tasks))
        committee = self._committee(task_id)
        if not committee:
            return
        member = data.draw(st.sampled_from(committee))
        self._commit(task_id, member, data.draw(st.sampled_from(DIGESTS)))

    @rule(data=st.data(), committers=st.integers(0, 2))
    def expire_with_partial_commits(self, data: st.DataObject, committers: int) -> None:
        """A few members commit (fewer than a majority, or a bare majority that never reveals),
        then both deadlines pass and anyone resolves: the task expires."""
        if not self.tasks:
            return
        task_id = data.draw(st.sampled_from(self.tasks))
        committee = self._committee(task_id)
        for member in committee[:committers]:
            self._commit(task_id, member, DIGESTS[0])
        rpc(self.w3, "evm_increaseTime", [300])
        rpc(self.w3, "evm_mine", [])
        self._send(self.oracle.functions.resolve(task_id), self.people[9])

    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        if not self.digests:
            return
        (task_id, member), digest = data.draw(st.sampled_from(sorted(self.digests.items())))
        self._send(self.oracle.functions.reveal(task_id, digest, salt_for(task_id, member)), member)

    @rule(data=st.data())
    def reveal_batch(self, data: st.DataObject) -> None:
        """Anyone submits the openings of every member of a task that committed (the aggregated
        reveal); positions already revealed are skipped."""
        if not self.digests:
            return
        task_id = data.draw(st.sampled_from(sorted({task for task, _ in self.digests})))
        committee = self._committee(task_id)
        openings = [
            (position, member, self.digests[(task_id, member)], salt_for(task_id, member))
            for position, member in enumerate(committee)
            if (task_id, member) in self.digests
        ]
        self._send(self.oracle.functions.revealBatch(task_id, openings), self.people[9])

    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        if self.tasks:
            self._send(
                self.oracle.functions.resolve(data.draw(st.sampled_from(self.tasks))),
                self.people[9],
            )

    @rule(seconds=st.sampled_from([30, 150, 400, 900]))
    def time_passes(self, seconds: int) -> None:
        rpc(self.w3, "evm_increaseTime", [seconds])
        rpc(self.w3, "evm_mine", [])

    @invariant()
    def balance_is_fully_accounted(self) -> None:
        STATS["steps"] += 1
        oracle = self.oracle
        expected = accounted_balance(oracle, self.people, self.tasks)
        assert self.w3.eth.get_balance(oracle.address) == expected

    @invariant()
    def pools_match_the_operators(self) -> None:
        oracle = self.oracle
        operators = self.people[1:9]
        with self.w3.batch_requests() as batch:
            for model in MODELS:
                batch.add(oracle.functions.poolOf(model))
                for person in operators:
                    batch.add(oracle.functions.drawWeight(person, model))
            results = batch.execute()
        stride = len(operators) + 1
        for m in range(len(MODELS)):
            (eligible, total), weights = (
                results[m * stride],
                results[m * stride + 1 : (m + 1) * stride],
            )
            assert total == sum(weights)
            assert eligible == sum(1 for w in weights if w)


def _run(
    chain: Web3, deployment: Deployment, accounts: list[Any], examples: int, steps: int
) -> None:
    OracleMachine.w3 = chain
    OracleMachine.deployment = deployment
    OracleMachine.people = [a.address for a in accounts[:10]]
    machine = OracleMachine.TestCase
    machine.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    STATS.update(sequences=0, steps=0, transactions=0)
    machine().runTest()
    print(
        f"\nstateful fuzzing: {STATS['sequences']} sequences, {STATS['steps']} checked states, "
        f"{STATS['transactions']} transactions"
    )
    assert STATS["sequences"] >= examples


def test_balance_invariant_under_random_actions(
    chain: Web3, oracle_deployment: Deployment, accounts: list[Any]
) -> None:
    _run(chain, oracle_deployment, accounts, examples=8, steps=30)


@pytest.mark.slow
def test_balance_invariant_under_many_random_actions(
    chain: Web3, oracle_deployment: Deployment, accounts: list[Any]
) -> None:
    _run(chain, oracle_deployment, accounts, examples=60, steps=40)
