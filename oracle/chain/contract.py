"""Where the oracle's ABI and address come from: committed artifacts and deployment records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oracle.errors import DeploymentNotFoundError

ORACLE_CONTRACT = "GenerationOracle"


REGISTRY_CONTRACT = "ModelRegistry"
#: Contracts whose errors surface through the oracle's own calls (the registry's from a request,
#: the operator desk's from an operator call, which runs by delegatecall).
_ERRORS_SURFACING_IN = {ORACLE_CONTRACT: ("ModelRegistry", "OperatorDesk")}


def load_abi(contract_name: str = ORACLE_CONTRACT) -> list[dict[str, Any]]:
    """The ABI of a compiled contract, from the committed deploy/artifacts/<name>.json, plus the
    errors its calls can raise from the contracts it calls (so every revert decodes by name)."""
    from deploy.artifacts import ArtifactNotFoundError, load_artifact

    try:
        abi = list(load_artifact(contract_name)["abi"])
        known = {entry.get("name") for entry in abi if entry.get("type") == "error"}
        for other in _ERRORS_SURFACING_IN.get(contract_name, ()):
            for entry in load_artifact(other)["abi"]:
                if entry.get("type") == "error" and entry["name"] not in known:
                    abi.append(entry)
                    known.add(entry["name"])
        return abi
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
