"""Stateful fuzzing on Anvil: random sequences of operator, requester and committee actions, with
time jumps, checking after every step that the oracle's ETH balance equals the sum of stakes,
escrowed fees of open tasks, credited balances and the treasury balance (nothing created or lost).

The rule set plays the roles a handler would: it only sends calls that a participant could make
(some of them failing on purpose), so sequences explore deep states instead of reverting early.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from contract_testlib import ETHER, INPUT, MODEL_ID, USE_DEFAULT, commitment, rpc, salt_for
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from deploy.deployer import Deployment

DIGESTS = [
    bytes.fromhex("0123456789abcdef" * 4),
    bytes.fromhex("0123456789abcdee" * 4),
    bytes.fromhex("f0f0f0f0f0f0f0f0" * 4),
    Web3.keccak(text="genoracle.invalid-input"),
]
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
        STATS["sequences"] += 1

    def teardown(self) -> None:
        rpc(self.w3, "evm_revert", [self.snapshot])

    def _send(self, fn: Any, sender: str, value: int = 0) -> bool:
        STATS["transactions"] += 1
        try:
            tx = fn.transact({"from": sender, "value": value})
        except EXPECTED_REVERTS:
            return False
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        return bool(receipt["status"] == 1)

    @initialize()
    def setup(self) -> None:
        owner = self.people[0]
        self._send(
            self.oracle.functions.registerModel(MODEL_ID, 0, "phash64", 0x04000000, 0x10000000, ""),
            owner,
        )
        for op in self.people[1:6]:
            self._send(self.oracle.functions.register("http://fuzz.test"), op, 2 * ETHER)

    @rule(who=st.integers(1, 8), stake=st.integers(0, 4 * ETHER))
    def register(self, who: int, stake: int) -> None:
        self._send(self.oracle.functions.register("http://fuzz.test"), self.people[who], stake)

    @rule(who=st.integers(1, 8), amount=st.integers(0, 2 * ETHER))
    def add_stake(self, who: int, amount: int) -> None:
        self._send(self.oracle.functions.addStake(), self.people[who], amount)

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

    @rule(size=st.sampled_from([1, 3, 5]), extra=st.integers(0, 10**15 + 7))
    def request(self, size: int, extra: int) -> None:
        fn = self.oracle.functions.requestGeneration(MODEL_ID, INPUT, size, USE_DEFAULT, 0)
        if self._send(fn, self.people[9], 10**15 * size + extra):
            self.tasks.append(self.oracle.functions.taskCount().call())

    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        if not self.tasks:
            return
        task_id = data.draw(st.sampled_from(self.tasks))
        committee = self.oracle.functions.getTask(task_id).call()[9]
        member = data.draw(st.sampled_from(committee))
        digest = data.draw(st.sampled_from(DIGESTS))
        c = commitment(self.w3, self.oracle, task_id, member, digest, salt_for(task_id, member))
        self._send(self.oracle.functions.commit(task_id, c), member)
        self.digests[(task_id, member)] = digest

    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        if not self.digests:
            return
        (task_id, member), digest = data.draw(st.sampled_from(sorted(self.digests.items())))
        self._send(self.oracle.functions.reveal(task_id, digest, salt_for(task_id, member)), member)

    @rule(data=st.data())
    def reveal_batch(self, data: st.DataObject) -> None:
        """Anyone submits the openings of every member of a task that committed (the aggregated
        reveal); it fails as a whole if any of them cannot be revealed now."""
        if not self.digests:
            return
        task_id = data.draw(st.sampled_from(sorted({task for task, _ in self.digests})))
        committee = self.oracle.functions.getTask(task_id).call()[9]
        openings = [
            (position, self.digests[(task_id, member)], salt_for(task_id, member))
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
        operators = self.people[1:9]
        with self.w3.batch_requests() as batch:
            for person in operators:
                batch.add(oracle.functions.getOperator(person))
            for task_id in self.tasks:
                batch.add(oracle.functions.getTask(task_id))
            for person in self.people:
                batch.add(oracle.functions.creditOf(person))
            batch.add(oracle.functions.treasuryBalance())
            batch.add(oracle.functions.totalWeight())
            for index in range(1, 9):
                batch.add(oracle.functions.operatorAt(index))
            results = batch.execute()
        n_ops, n_tasks = len(operators), len(self.tasks)
        stakes = sum(info[0] for info in results[:n_ops])
        escrow = sum(info[7] for info in results[n_ops : n_ops + n_tasks] if info[2] == 1)
        credits = sum(results[n_ops + n_tasks : n_ops + n_tasks + len(self.people)])
        treasury, total_weight = results[n_ops + n_tasks + len(self.people) :][:2]
        weights = [leaf[1] for leaf in results[n_ops + n_tasks + len(self.people) + 2 :]]
        balance = self.w3.eth.get_balance(oracle.address)
        assert balance == stakes + escrow + credits + treasury
        assert total_weight == sum(weights)

    digests: dict[tuple[int, str], bytes]

    @initialize()
    def no_digests(self) -> None:
        self.digests = {}


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
    _run(chain, oracle_deployment, accounts, examples=15, steps=30)


@pytest.mark.slow
def test_balance_invariant_under_many_random_actions(
    chain: Web3, oracle_deployment: Deployment, accounts: list[Any]
) -> None:
    _run(chain, oracle_deployment, accounts, examples=60, steps=40)
