"""Where deployment records live, as a newcomer meets them: `genoracle deploy` (a real process)
writes one documented location, the example node config and the client find the record there,
a second deployment keeps the first record, and a pinned chain id refuses another chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from web3 import Web3

from deploy.anvil import AnvilProcess
from deploy.deployer import read_deployment
from oracle.chain.client import ChainClient
from oracle.config import load_client_config, load_node_config

REPO = Path(__file__).resolve().parents[2]
GENORACLE = str(Path(sys.executable).parent / "genoracle")
EXAMPLE_CONFIG = REPO / "oracle" / "node.example.toml"
CHAIN_ID = 31_337


def genoracle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GENORACLE_") or key == "GENORACLE_ANVIL"
    }
    return subprocess.run(
        [GENORACLE, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def deploy(anvil: AnvilProcess, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return genoracle("deploy", "--rpc-url", anvil.rpc_url, "--anvil-account", "0", env=env)


def test_deploy_writes_to_the_home_not_into_the_package(
    anvil: AnvilProcess, chain: Web3, tmp_path: Path
) -> None:
    package_records = REPO / "deploy" / "deployments"
    before = sorted(package_records.glob("*")) if package_records.is_dir() else []
    home = tmp_path / "home"
    result = deploy(anvil, {"GENORACLE_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    record = home / "deployments" / f"{CHAIN_ID}.json"
    assert f"record:   {record}" in result.stdout
    assert read_deployment(record).oracle in result.stdout
    after = sorted(package_records.glob("*")) if package_records.is_dir() else []
    assert after == before  # nothing written inside the installed package

    elsewhere = tmp_path / "records"
    result = deploy(
        anvil, {"GENORACLE_HOME": str(home), "GENORACLE_DEPLOYMENTS_DIR": str(elsewhere)}
    )
    assert result.returncode == 0, result.stderr
    assert (elsewhere / f"{CHAIN_ID}.json").is_file()


def test_redeploying_keeps_the_previous_record_and_says_so(
    anvil: AnvilProcess, chain: Web3, tmp_path: Path
) -> None:
    env = {"GENORACLE_DEPLOYMENTS_DIR": str(tmp_path)}
    assert deploy(anvil, env).returncode == 0
    first = read_deployment(tmp_path / f"{CHAIN_ID}.json")
    again = deploy(anvil, env)
    assert again.returncode == 0, again.stderr
    second = read_deployment(tmp_path / f"{CHAIN_ID}.json")
    assert second.oracle != first.oracle
    kept = [path for path in tmp_path.iterdir() if path.name != f"{CHAIN_ID}.json"]
    assert len(kept) == 1 and kept[0].name.startswith(f"{CHAIN_ID}.replaced-")
    assert read_deployment(kept[0]) == first
    assert f"had a deployment record already: kept it as {kept[0]}" in again.stdout


def test_the_example_config_and_the_client_find_the_record(
    anvil: AnvilProcess, chain: Web3, tmp_path: Path
) -> None:
    """The example config said deployments_dir = "deploy/deployments", which it resolved next to
    itself (oracle/deploy/deployments): no node or client using it found a record."""
    env = {"GENORACLE_HOME": str(tmp_path), "GENORACLE_CHAIN_RPC_URL": anvil.rpc_url}
    assert deploy(anvil, env).returncode == 0
    oracle = read_deployment(tmp_path / "deployments" / f"{CHAIN_ID}.json").oracle

    shown = genoracle("task", "show", "--config", str(EXAMPLE_CONFIG), "1", env=env)
    assert shown.returncode == 1
    assert shown.stderr.strip() == f"Error: task 1 does not exist on oracle {oracle}"

    environ = {**os.environ, **env}
    node_config = load_node_config(EXAMPLE_CONFIG, environ=environ)
    old_home = os.environ.get("GENORACLE_HOME")
    os.environ["GENORACLE_HOME"] = str(tmp_path)
    try:
        assert ChainClient(node_config.chain).address == oracle
        client_config = load_client_config(None, environ=environ)
        assert ChainClient(client_config.chain).address == oracle
    finally:
        if old_home is None:
            del os.environ["GENORACLE_HOME"]
        else:
            os.environ["GENORACLE_HOME"] = old_home


def test_a_pinned_chain_id_refuses_an_rpc_of_another_chain(
    anvil: AnvilProcess, chain: Web3, tmp_path: Path
) -> None:
    env = {"GENORACLE_DEPLOYMENTS_DIR": str(tmp_path)}
    assert deploy(anvil, env).returncode == 0
    pinned = genoracle(
        "task",
        "show",
        "--rpc-url",
        anvil.rpc_url,
        "1",
        env={**env, "GENORACLE_CHAIN_CHAIN_ID": "1"},
    )
    assert pinned.returncode == 1
    assert pinned.stderr.strip() == (
        f"Error: chain.chain_id is 1, but the RPC at {anvil.rpc_url} serves chain {CHAIN_ID}: "
        f"point chain.rpc_url (--rpc-url) at chain 1, or pin chain {CHAIN_ID}"
    )
    right = genoracle(
        "task",
        "show",
        "--rpc-url",
        anvil.rpc_url,
        "1",
        env={**env, "GENORACLE_CHAIN_CHAIN_ID": str(CHAIN_ID)},
    )
    assert right.returncode == 1 and "task 1 does not exist" in right.stderr
