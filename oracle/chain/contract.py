"""Where the oracle's ABI and address come from: committed artifacts and deployment records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oracle.errors import DeploymentNotFoundError

ORACLE_CONTRACT = "GenerationOracle"


def load_abi(contract_name: str = ORACLE_CONTRACT) -> list[dict[str, Any]]:
    """The ABI of a compiled contract, from the committed deploy/artifacts/<name>.json."""
    from deploy.artifacts import ArtifactNotFoundError, load_artifact

    try:
        return list(load_artifact(contract_name)["abi"])
    except ArtifactNotFoundError as exc:
        raise DeploymentNotFoundError(f"{exc}; compile the contracts first") from None


def deployment_record(deployments_dir: Path, chain_id: int) -> dict[str, Any]:
    """The deployment record of a chain, written when the oracle was deployed there."""
    path = deployments_dir / f"{chain_id}.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeploymentNotFoundError(
            f"no oracle address: chain.oracle_address is not set and there is no deployment "
            f"record {str(path)!r} for chain {chain_id}; deploy first or set the address"
        ) from None
    except json.JSONDecodeError as exc:
        raise DeploymentNotFoundError(
            f"deployment record {str(path)!r} is not JSON: {exc}"
        ) from None
    if "oracle" not in record:
        raise DeploymentNotFoundError(f"deployment record {str(path)!r} has no 'oracle' address")
    return record
