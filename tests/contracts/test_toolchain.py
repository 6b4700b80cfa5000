"""The toolchain: committed artifacts reproduce byte for byte, the Anvil launcher, deployment
records, and the chain/deploy CLI."""

from __future__ import annotations

import enum
import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.anvil import AnvilProcess
from deploy.artifacts import ARTIFACTS_DIR, load_artifact
from deploy.compile import compile_contracts, stale_artifacts
from deploy.deployer import (
    Deployment,
    OracleConfig,
    deploy_oracle,
    deployment_for,
    load_deployment,
)
from deploy.errors import AnvilError, DeploymentError
from oracle.chain.views import (
    DrawFailure,
    FailureReason,
    Phase,
    SlashReason,
    TaskStatus,
    same_protocol,
)
from oracle.version import __version__ as genoracle_version

EIP170_CODE_LIMIT = 24_576


def test_fresh_compile_reproduces_committed_artifacts() -> None:
    artifacts = compile_contracts()
    assert stale_artifacts(artifacts, ARTIFACTS_DIR) == []
    for name in ("GenerationOracle", "ExampleGenerationGallery", "IGenerationConsumer"):
        assert name in artifacts


def test_deployable_contracts_fit_the_code_size_limit() -> None:
    for name in (
        "GenerationOracle",
        "OperatorDesk",
        "ModelRegistry",
        "ExampleGenerationGallery",
        "CommitteeDrawHarness",
        "AuditedTasks",
        "TrainingTasks",
    ):
        size = (len(load_artifact(name)["deployedBytecode"]) - 2) // 2
        assert size <= EIP170_CODE_LIMIT, (name, size)


def test_abi_has_the_spec_surface() -> None:
    abi = load_artifact("GenerationOracle")["abi"]
    functions = {item["name"] for item in abi if item["type"] == "function"}
    assert {
        "register",
        "addStake",
        "setEndpoint",
        "requestExit",
        "withdrawStake",
        "claim",
        "serveModel",
        "stopServingModel",
        "pauseAssignments",
        "resumeAssignments",
        "models",
        "requestGeneration",
        "requiredFee",
        "drawCommittees",
        "committeeOf",
        "commit",
        "reveal",
        "revealBatch",
        "resolve",
        "getTask",
        "taskPhase",
        "taskCount",
        "getOperator",
        "poolOf",
        "drawWeight",
        "operatorAt",
        "creditOf",
        "config",
        "INVALID_INPUT_DIGEST",
    } <= functions
    errors = {item["name"] for item in abi if item["type"] == "error"}
    assert {
        "NotEnoughOperators",
        "CommitmentMismatch",
        "WrongPhase",
        "InvalidCommitteeSize",
        "NothingToReveal",
    } <= errors
    registry_abi = load_artifact("ModelRegistry")["abi"]
    assert {"registerModel", "setModelActive", "getModel", "indexOf"} <= {
        item["name"] for item in registry_abi if item["type"] == "function"
    }
    assert {"UnknownModel", "ToleranceBelowFloor"} <= {
        item["name"] for item in registry_abi if item["type"] == "error"
    }


def test_anvil_starts_on_a_free_port_and_stops() -> None:
    with AnvilProcess(chain_id=4242) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.chain_id == 4242
        assert node.rpc_url == f"http://127.0.0.1:{node.port}"
        assert "Listening on" in node.log
    assert not node.running


def test_anvil_failure_shows_its_log() -> None:
    with pytest.raises(AnvilError, match="exited with code"):
        AnvilProcess(extra_args=("--no-such-flag",)).start()


def test_deployment_record_roundtrip_and_chain_check(
    w3: Web3, accounts: list[LocalAccount], tmp_path: Path, chain: Web3
) -> None:
    deployment = deploy_oracle(w3, accounts[0], OracleConfig(), records_dir=tmp_path)
    record = json.loads((tmp_path / "31337.json").read_text())
    assert record["chainId"] == 31337 and record["oracle"] == deployment.oracle
    assert record["artifactHash"].startswith("0x")
    assert load_deployment(31337, tmp_path) == deployment
    assert deployment_for(w3, tmp_path).oracle == deployment.oracle
    (tmp_path / "5.json").write_text(json.dumps(deployment.to_json()))
    with pytest.raises(DeploymentError, match="another network"):
        load_deployment(5, tmp_path)
    with pytest.raises(DeploymentError, match="no deployment record"):
        load_deployment(1, tmp_path)
    assert Deployment.from_json(record).config["treasury"] == accounts[0].address


def test_deploy_cli(anvil: AnvilProcess, tmp_path: Path, chain: Web3) -> None:
    from oracle.cli import main

    result = CliRunner().invoke(
        main,
        [
            "deploy",
            "--rpc-url",
            anvil.rpc_url,
            "--anvil-account",
            "0",
            "--records-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "oracle:" in result.output
    assert load_deployment(31337, tmp_path).oracle in result.output
    result = CliRunner().invoke(
        main, ["deploy", "--rpc-url", anvil.rpc_url], env={"GENORACLE_PRIVATE_KEY": ""}
    )
    assert result.exit_code != 0 and "GENORACLE_PRIVATE_KEY" in result.output


def _solidity_enums(source: Path) -> dict[str, list[str]]:
    text = source.read_text()
    return {
        name: [member.strip() for member in body.split(",") if member.strip()]
        for name, body in re.findall(r"\benum\s+(\w+)\s*\{([^}]*)\}", text)
    }


def _upper_snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()


@pytest.mark.parametrize(
    "python_enum", [TaskStatus, Phase, FailureReason, SlashReason, DrawFailure]
)
def test_python_enums_are_the_solidity_enums_member_by_member(
    python_enum: type[enum.IntEnum],
) -> None:
    """Solidity declares the protocol's enums (IOracleTypes.sol); oracle.chain.views mirrors them
    once for Python, and this keeps the mirror exact (names and values)."""
    root = Path(__file__).resolve().parents[2]
    declared = _solidity_enums(root / "contracts/interfaces/IOracleTypes.sol")
    members = declared[python_enum.__name__]
    assert [(member.name, member.value) for member in python_enum] == [
        (_upper_snake(name), value) for value, name in enumerate(members)
    ]


def test_the_contract_and_the_package_declare_one_version(oracle: Contract) -> None:
    """The deployed oracle's VERSION is the package's version (pyproject.toml): a node refuses a
    deployment of another major.minor (see VerifierNode._check_protocol_version)."""
    root = Path(__file__).resolve().parents[2]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert oracle.functions.VERSION().call() == declared == genoracle_version
    assert same_protocol("0.2.0", "0.2.7") and not same_protocol("0.1.9", "0.2.0")
