"""Shared fixtures: one Anvil chain per test session with the oracle deployed once, and an
evm_snapshot/evm_revert around every test that touches the chain, so tests are isolated and fast.

Fixtures for chain tests:
- `anvil`: the session's AnvilProcess (chain id 31337, automine).
- `w3`: a Web3 connected to it; `accounts`: its funded accounts as local signers.
- `oracle_deployment`: the session's Deployment (record written to a temporary directory).
- `chain`: snapshot before the test, revert after it.
- `oracle`: the deployed GenerationOracle contract, inside a `chain` snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.anvil import AnvilProcess
from deploy.deployer import Deployment, OracleConfig, deploy_oracle

#: The configuration the session's oracle is deployed with (ETH amounts in wei).
TEST_ORACLE_CONFIG = OracleConfig(
    min_stake=10**18,
    min_fee_per_member=10**15,
    commit_window=120,
    reveal_window=120,
    unbonding_delay=600,
    slash_deviation_bps=1000,
    slash_no_commit_bps=200,
    max_callback_gas_limit=1_000_000,
    max_committee_size=7,
    callback_gas_price=10**9,
    treasury="0x000000000000000000000000000000000000dEaD",
)


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    with AnvilProcess(accounts=20) as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    web3 = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))
    assert web3.is_connected(), anvil.log
    return web3


@pytest.fixture(scope="session")
def accounts(anvil: AnvilProcess) -> list[LocalAccount]:
    return anvil.accounts()


@pytest.fixture(scope="session")
def oracle_deployment(
    w3: Web3, accounts: list[LocalAccount], tmp_path_factory: pytest.TempPathFactory
) -> Deployment:
    records: Path = tmp_path_factory.mktemp("deployments")
    return deploy_oracle(w3, accounts[0], TEST_ORACLE_CONFIG, records_dir=records)


@pytest.fixture
def chain(w3: Web3, oracle_deployment: Deployment) -> Iterator[Web3]:
    """Snapshot the chain (after the session deployment) and revert it after the test."""
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield w3
    reverted = w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    assert reverted.get("result") is True, reverted


@pytest.fixture
def oracle(chain: Web3, oracle_deployment: Deployment) -> Contract:
    return oracle_deployment.oracle_contract(chain)
