"""Where the oracle's ABI comes from: the committed artifacts (addresses: deploy.deployer)."""

from __future__ import annotations

from typing import Any

ORACLE_CONTRACT = "GenerationOracle"


REGISTRY_CONTRACT = "ModelRegistry"
#: Contracts whose errors surface through the oracle's own calls (the registry's from a request,
#: the operator desk's from an operator call, which runs by delegatecall).
_ERRORS_SURFACING_IN = {ORACLE_CONTRACT: ("ModelRegistry", "OperatorDesk")}


def load_abi(contract_name: str = ORACLE_CONTRACT) -> list[dict[str, Any]]:
    """The ABI of a compiled contract, from the committed deploy/artifacts/<name>.json, plus the
    errors its calls can raise from the contracts it calls (so every revert decodes by name)."""
    from deploy.artifacts import load_artifact
    from deploy.errors import ArtifactNotFoundError

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
        raise ArtifactNotFoundError(
            f"{exc}; compile the contracts first (make contracts)"
        ) from None
