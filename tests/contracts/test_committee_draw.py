"""The committee draw: matches an independent re-implementation, and over many draws selects each
operator with the frequency its stake implies (chi-square test with fixed seeds)."""

from __future__ import annotations

from itertools import permutations

import pytest
from contract_testlib import ETHER, MODEL_ID, Actors, register_model, request, send
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from scipy.stats import chisquare
from web3 import Web3
from web3.contract import Contract

from deploy.artifacts import load_artifact
from deploy.deployer import deploy_contract

STAKES = [1 * ETHER, 2 * ETHER, 3 * ETHER, 4 * ETHER, 5 * ETHER, 9 * ETHER]
ROUNDS_PER_CALL = 1000


def draw_committee(entropy: bytes, size: int, weights: list[int]) -> list[int]:
    """Reference draw over 1-based pool slots: weighted, without replacement, slot order."""
    drawn: list[int] = []
    remaining = sum(weights)
    for i in range(size):
        target = int.from_bytes(Web3.keccak(encode(["bytes32", "uint256"], [entropy, i])), "big")
        target %= remaining
        for index, weight in enumerate(weights, start=1):
            if index in drawn:
                continue
            if target < weight:
                drawn.append(index)
                remaining -= weight
                break
            target -= weight
    return drawn


def test_oracle_committee_matches_the_reference_draw(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    # The operators registered in order, each serving the model: pool slot i holds operator i.
    weights = [oracle.functions.drawWeight(op, MODEL_ID).call() for op in operators]
    assert all(weights)
    for size in (3, 5, 7):
        task = request(oracle, actors.requester, size=size)
        expected = [operators[i - 1] for i in draw_committee(task.entropy, size, weights)]
        assert task.committee == expected


@pytest.fixture
def harness(w3c: Web3, accounts: list[LocalAccount], oracle: Contract) -> Contract:
    config = oracle.functions.config().call()  # the session oracle's configuration
    address, _ = deploy_contract(
        w3c, accounts[0], "CommitteeDrawHarness", accounts[0].address, config
    )
    contract = w3c.eth.contract(address=address, abi=load_artifact("CommitteeDrawHarness")["abi"])
    register_model(contract, accounts[0].address)
    for account, stake in zip(accounts[1:], STAKES, strict=False):
        send(contract.functions.register("http://draw.test", [MODEL_ID]), account.address, stake)
    return contract


def _counts(harness: Contract, size: int, calls: int) -> list[int]:
    totals = [0] * len(STAKES)
    for call in range(calls):
        seed = Web3.keccak(text=f"fairness-{size}-{call}")
        counts = harness.functions.drawCounts(
            0,
            seed,
            size,
            ROUNDS_PER_CALL,
            len(STAKES),  # the harness's first model
        ).call({"gas": 1_000_000_000})
        totals = [t + c for t, c in zip(totals, counts[1:], strict=True)]
    return totals


def test_single_draw_frequencies_match_stake_shares(harness: Contract) -> None:
    counts = _counts(harness, 1, 4)
    total = sum(counts)
    expected = [total * s / sum(STAKES) for s in STAKES]
    result = chisquare(counts, expected)
    assert result.pvalue > 0.001, (counts, expected, result)


def test_committee_inclusion_matches_weighted_sampling_without_replacement(
    harness: Contract,
) -> None:
    size, calls = 3, 4
    counts = _counts(harness, size, calls)
    rounds = calls * ROUNDS_PER_CALL
    total = sum(STAKES)
    inclusion = [0.0] * len(STAKES)
    for order in permutations(range(len(STAKES)), size):
        p, left = 1.0, total
        for index in order:
            p *= STAKES[index] / left
            left -= STAKES[index]
        for index in order:
            inclusion[index] += p
    # Each member slot is a categorical draw; a chi-square over all slots, with the exact
    # inclusion probabilities of successive weighted sampling as expectation.
    expected = [rounds * q for q in inclusion]
    assert abs(sum(expected) - size * rounds) < 1e-6
    result = chisquare(counts, expected)
    assert result.pvalue > 0.001, (counts, expected, result)
