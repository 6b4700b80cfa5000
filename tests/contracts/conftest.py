"""Contract-test fixtures on top of the session Anvil (tests/conftest.py): named accounts, a
registered model and a set of registered operators, all inside the per-test snapshot."""

from __future__ import annotations

import pytest
from contract_testlib import ETHER, MODEL_ID, Actors, register_model, send
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

#: Stakes of the operators the `operators` fixture registers (accounts 1..7).
OPERATOR_STAKES = [2 * ETHER, 3 * ETHER, 4 * ETHER, 5 * ETHER, 6 * ETHER, 7 * ETHER, 8 * ETHER]


@pytest.fixture
def actors(accounts: list[LocalAccount]) -> Actors:
    return Actors(
        owner=accounts[0].address,
        operators=[a.address for a in accounts[1:8]],
        requester=accounts[10].address,
        outsider=accounts[11].address,
    )


@pytest.fixture
def model(oracle: Contract, actors: Actors) -> bytes:
    register_model(oracle, actors.owner, MODEL_ID, 0, "phash64", 0x08000000, 0x20101010)
    return MODEL_ID


@pytest.fixture
def operators(oracle: Contract, actors: Actors, model: bytes) -> list[str]:
    for operator, stake in zip(actors.operators, OPERATOR_STAKES, strict=True):
        endpoint = f"http://{operator[:10].lower()}.test:8080"
        send(oracle.functions.register(endpoint, [model]), operator, stake)
    return actors.operators


@pytest.fixture
def w3c(chain: Web3) -> Web3:
    """The chain, for tests that also need the snapshot."""
    return chain
