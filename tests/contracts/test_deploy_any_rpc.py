"""Deploying to any EVM RPC by URL and key: a second Anvil with another chain id stands in for a
real network. The record is written per chain id, read back and checked against the chain, and a
record (or a deployment) meant for one chain is refused on the other, naming both chain ids."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from web3 import Web3

from deploy.anvil import AnvilProcess, anvil_accounts
from deploy.deployer import (
    check_deployment,
    deploy_oracle,
    deployment_for,
    load_deployment,
    read_deployment,
)
from deploy.errors import DeploymentError

OTHER_CHAIN_ID = 271_828
SESSION_CHAIN_ID = 31_337
#: The deployer on the other chain: an account that is not the session oracle's deployer.
DEPLOYER = anvil_accounts(4)[3]


@pytest.fixture(scope="module")
def other_chain() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=OTHER_CHAIN_ID) as node:
        yield node


def _genoracle(*args: str, key: str = "") -> Result:
    from oracle.cli import main

    return CliRunner().invoke(main, list(args), env={"GENORACLE_PRIVATE_KEY": key})


def _deploy_with_key(rpc_url: str, records: Path, *extra: str) -> Result:
    return _genoracle(
        "deploy",
        "--rpc-url",
        rpc_url,
        "--records-dir",
        str(records),
        *extra,
        key="0x" + DEPLOYER.key.hex().removeprefix("0x"),
    )


def test_deploy_by_url_and_key_writes_a_checked_record_per_chain_id(
    other_chain: AnvilProcess, tmp_path: Path
) -> None:
    other = Web3(Web3.HTTPProvider(other_chain.rpc_url))
    result = _deploy_with_key(
        other_chain.rpc_url, tmp_path, "--chain-id", str(OTHER_CHAIN_ID), "--with-example-consumer"
    )
    assert result.exit_code == 0, result.output
    assert f"chain:    {OTHER_CHAIN_ID}" in result.output
    assert "record read back and checked against the chain" in result.output

    assert [p.name for p in tmp_path.iterdir()] == [f"{OTHER_CHAIN_ID}.json"]
    record = json.loads((tmp_path / f"{OTHER_CHAIN_ID}.json").read_text())
    assert record["chainId"] == OTHER_CHAIN_ID
    assert record["deployer"] == DEPLOYER.address
    assert record["config"]["treasury"] == DEPLOYER.address
    receipt = other.eth.get_transaction_receipt(record["transactionHash"])
    assert receipt["contractAddress"] == record["oracle"]
    assert receipt["blockNumber"] == record["blockNumber"]
    assert other.eth.get_code(record["oracle"]) and other.eth.get_code(record["consumer"])
    assert record["oracle"] in result.output and record["consumer"] in result.output

    deployment = deployment_for(other, tmp_path)
    assert deployment == load_deployment(OTHER_CHAIN_ID, tmp_path)
    assert (deployment.oracle, deployment.consumer) == (record["oracle"], record["consumer"])
    check = _genoracle(
        "chain", "check", "--rpc-url", other_chain.rpc_url, "--records-dir", str(tmp_path)
    )
    assert check.exit_code == 0, check.output
    assert "record matches the chain" in check.output


def test_a_record_or_deployment_for_one_chain_is_refused_on_the_other(
    other_chain: AnvilProcess, anvil: AnvilProcess, chain: Web3, tmp_path: Path
) -> None:
    other = Web3(Web3.HTTPProvider(other_chain.rpc_url))
    other_record = deploy_oracle(other, DEPLOYER, records_dir=tmp_path)
    session_record = deploy_oracle(chain, anvil_accounts(1)[0], records_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{OTHER_CHAIN_ID}.json",
        f"{SESSION_CHAIN_ID}.json",
    ]
    both_ids = rf"chain {OTHER_CHAIN_ID}.*chain {SESSION_CHAIN_ID}"

    # The other chain's record used against the session chain's RPC (and the reverse).
    with pytest.raises(DeploymentError, match=both_ids):
        check_deployment(chain, other_record)
    with pytest.raises(DeploymentError, match=rf"chain {SESSION_CHAIN_ID}.*chain {OTHER_CHAIN_ID}"):
        check_deployment(other, load_deployment(SESSION_CHAIN_ID, tmp_path))
    refused = _genoracle(
        "chain",
        "check",
        "--rpc-url",
        anvil.rpc_url,
        "--record",
        str(tmp_path / f"{OTHER_CHAIN_ID}.json"),
    )
    assert refused.exit_code != 0
    assert "chain id mismatch" in refused.output
    assert str(OTHER_CHAIN_ID) in refused.output and str(SESSION_CHAIN_ID) in refused.output

    # A record filed under the wrong chain id is refused when loaded for that chain.
    misfiled = tmp_path / "misfiled"
    misfiled.mkdir()
    shutil.copy(tmp_path / f"{OTHER_CHAIN_ID}.json", misfiled / f"{SESSION_CHAIN_ID}.json")
    with pytest.raises(DeploymentError, match="another network"):
        deployment_for(chain, misfiled)

    # A deployment aimed at the other chain is refused on the session chain before any transaction.
    nonce = chain.eth.get_transaction_count(DEPLOYER.address)
    result = _deploy_with_key(anvil.rpc_url, tmp_path, "--chain-id", str(OTHER_CHAIN_ID))
    assert result.exit_code != 0
    assert "chain id mismatch" in result.output
    assert str(OTHER_CHAIN_ID) in result.output and str(SESSION_CHAIN_ID) in result.output
    assert chain.eth.get_transaction_count(DEPLOYER.address) == nonce
    assert read_deployment(tmp_path / f"{SESSION_CHAIN_ID}.json") == session_record


def test_a_record_that_does_not_describe_the_chain_is_refused(
    other_chain: AnvilProcess, tmp_path: Path
) -> None:
    other = Web3(Web3.HTTPProvider(other_chain.rpc_url))
    deploy_oracle(other, DEPLOYER, records_dir=tmp_path)
    path = tmp_path / f"{OTHER_CHAIN_ID}.json"
    record = json.loads(path.read_text())

    record["config"]["min_stake"] = 1
    path.write_text(json.dumps(record))
    with pytest.raises(DeploymentError, match="does not describe this contract"):
        deployment_for(other, tmp_path)

    record["oracle"] = "0x000000000000000000000000000000000000bEEF"
    path.write_text(json.dumps(record))
    with pytest.raises(DeploymentError, match=r"no contract at 0x0+bEEF \(oracle\)"):
        deployment_for(other, tmp_path)

    path.write_text("[1, 2]")
    with pytest.raises(DeploymentError, match="not a deployment record"):
        deployment_for(other, tmp_path)
