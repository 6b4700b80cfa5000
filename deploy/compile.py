"""Compile contracts/ into the deterministic artifacts committed under deploy/artifacts/.

The compiler is the npm `solc` package (wasm) driven through deploy/solc_shim.cjs, because no
native solc can be installed offline. Sources are passed by content with paths relative to the
repository root and no remappings, so the metadata (and the bytecode that embeds its hash) is the
same on every machine and in every checkout directory.

Run `python -m deploy.compile` after changing a contract; `--check` only verifies that the
committed artifacts match a fresh compile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deploy.artifacts import ARTIFACTS_DIR, PROJECT_ROOT, render_artifact
from deploy.errors import CompileError

CONTRACTS_DIR = PROJECT_ROOT / "contracts"
SHIM = PROJECT_ROOT / "deploy" / "solc_shim.cjs"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 1_000


def source_paths(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """Every Solidity source under contracts/, sorted so the input JSON is stable."""
    return sorted(contracts_dir.rglob("*.sol"))


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The solc standard-JSON input: sources by content, keyed by repository-relative path."""
    sources = {
        path.relative_to(PROJECT_ROOT).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in source_paths(contracts_dir)
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": True,
            "evmVersion": EVM_VERSION,
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]
                }
            },
        },
    }


def compiler_version() -> str:
    """The long version string of the npm solc behind the shim."""
    import solcx.wrapper

    line: str = solcx.wrapper.get_version_str_from_solc_binary(SHIM)
    return line.strip()


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, dict[str, Any]]:
    """Compile every contract; return artifacts by contract name (ABI-less libraries omitted)."""
    import solcx
    from solcx.exceptions import SolcError

    if not SHIM.exists():
        raise CompileError(f"compiler shim missing: {SHIM}")
    input_json = standard_input(contracts_dir)
    try:
        output: dict[str, Any] = solcx.compile_standard(
            input_json, solc_binary=SHIM, base_path=PROJECT_ROOT
        )
    except SolcError as exc:
        raise CompileError(f"solc failed: {_error_summary(exc)}") from None
    except FileNotFoundError as exc:
        raise CompileError(f"cannot run the compiler shim {SHIM}: {exc}") from exc
    version = _long_version(output, input_json)
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name in sorted(output.get("contracts", {})):
        if not source_name.startswith("contracts/"):
            continue
        for contract_name, compiled in sorted(output["contracts"][source_name].items()):
            if not compiled["abi"]:
                continue
            if contract_name in artifacts:
                raise CompileError(f"two contracts are named {contract_name}; names must be unique")
            artifacts[contract_name] = {
                "contractName": contract_name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "metadata": compiled["metadata"],
                "compiler": {
                    "name": "solc",
                    "version": version,
                    "settings": input_json["settings"],
                },
            }
    return artifacts


def _error_summary(exc: Exception) -> str:
    """The compiler's own messages, without the multi-megabyte stdout py-solc-x attaches."""
    stdout = getattr(exc, "stdout_data", "") or ""
    try:
        errors = json.loads(stdout).get("errors", [])
    except ValueError:
        return f"{getattr(exc, 'message', exc)} (stderr: {getattr(exc, 'stderr_data', '')!s:.2000})"
    messages = [e["formattedMessage"] for e in errors if e.get("severity") == "error"]
    return "\n".join(messages) or str(getattr(exc, "message", exc))


def _long_version(output: dict[str, Any], input_json: dict[str, Any]) -> str:
    """The compiler version as recorded in the metadata of the first contract."""
    for source in output.get("contracts", {}).values():
        for compiled in source.values():
            metadata = json.loads(compiled["metadata"])
            return str(metadata["compiler"]["version"])
    raise CompileError(f"no contract compiled from {sorted(input_json['sources'])}")


def write_artifacts(
    artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACTS_DIR
) -> list[Path]:
    """Write one JSON file per contract, and delete artifacts of contracts that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = directory / f"{name}.json"
        path.write_text(render_artifact(artifact), encoding="utf-8")
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written


def stale_artifacts(
    artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACTS_DIR
) -> list[str]:
    """Names of artifacts whose committed file differs from `artifacts` (or is missing/extra)."""
    expected = {f"{name}.json": render_artifact(a) for name, a in artifacts.items()}
    present = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")}
    names = sorted(set(expected) | set(present))
    return [name for name in names if expected.get(name) != present.get(name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if deploy/artifacts/ is not up to date"
    )
    args = parser.parse_args(argv)
    artifacts = compile_contracts()
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print(f"artifacts out of date: {', '.join(stale)} (run python -m deploy.compile)")
            return 1
        print(f"{len(artifacts)} artifacts up to date")
        return 0
    for path in write_artifacts(artifacts):
        print(path.relative_to(PROJECT_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
