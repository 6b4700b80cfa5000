"""Solidity developers' tools: `forge build` and `forge test` of the consumer base run offline with
the npm forge and the solc shim (foundry.toml), and the contracts install from npm
(contracts/package.json) under the import paths the README shows, which a scratch Foundry project
compiles through remappings."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules" / ".bin" / "forge"
SHIM = ROOT / "deploy" / "solc_shim.cjs"
PACKAGE = ROOT / "contracts" / "package.json"
FOUNDRY_TESTS = (
    "test_ConstructorRefusesAnOracleWithoutCode",
    "test_FailedTaskCallsFailAndTheFeeComesBack",
    "test_OnlyTheOracleReachesTheHooks",
    "test_VerifiedTaskCallsFulfillOnceWithTheDigest",
)


def _run(command: list[str], cwd: Path, timeout_s: float = 900) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _readme_solidity() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```solidity\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) == 1, "the README's Solidity example is not one ```solidity block"
    return str(blocks[0])


@pytest.mark.slow  # a full forge build and test run, over a minute
def test_forge_builds_and_runs_the_consumer_base_tests_offline() -> None:
    assert FORGE.exists(), "node_modules/.bin/forge is missing: run `make node`"
    _run([str(FORGE), "build"], ROOT)
    out = _run([str(FORGE), "test", "--json"], ROOT)
    suites = json.loads(out[out.index("{") :])
    results = {
        name.split("(")[0]: result["status"]
        for suite in suites.values()
        for name, result in suite["test_results"].items()
    }
    assert results == dict.fromkeys(FOUNDRY_TESTS, "Success"), results


def test_npm_package_ships_the_contracts_under_the_readme_import_paths() -> None:
    package = json.loads(PACKAGE.read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert package["name"] == "@genoracle/contracts" and package["version"] == version
    assert not package.get("private"), "contracts/package.json must not be private"
    packed = json.loads(_run(["npm", "pack", "--dry-run", "--json"], ROOT / "contracts"))
    files = {entry["path"] for entry in packed[0]["files"]}
    imported = set(re.findall(r'from "@genoracle/contracts/([^"]+)"', _readme_solidity()))
    assert imported == {"GenerationConsumerBase.sol", "interfaces/IGenerationOracle.sol"}
    assert imported <= files
    sources = {
        str(path.relative_to(ROOT / "contracts"))
        for path in (ROOT / "contracts").rglob("*.sol")
        if "test" not in path.relative_to(ROOT / "contracts").parts
    }
    assert sources <= files, f"not packaged: {sorted(sources - files)}"
    assert not any(path.startswith("test/") for path in files), "test harnesses are packaged"
    # The licence text travels with the package: a copy of the repository's, kept identical.
    assert "LICENSE" in files, "the npm package ships no LICENSE"
    assert (ROOT / "contracts" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text(), (
        "contracts/LICENSE differs from the repository's LICENSE: copy it again"
    )


def test_a_scratch_project_compiles_the_readme_example_from_the_packed_package(
    tmp_path: Path,
) -> None:
    """`npm pack`, unpacked where `npm install` puts it; the README's contract compiles there."""
    _run(["npm", "pack", "--pack-destination", str(tmp_path)], ROOT / "contracts")
    (tarball,) = tmp_path.glob("genoracle-contracts-*.tgz")
    project = tmp_path / "dapp"
    installed = project / "node_modules" / "@genoracle" / "contracts"
    installed.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            member.name = member.name.removeprefix("package/")
        archive.extractall(installed, filter="data")
    (project / "src").mkdir()
    (project / "src" / "MyGallery.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.30;\n\n" + _readme_solidity()
    )
    (project / "foundry.toml").write_text(
        "[profile.default]\n"
        f'solc = "{SHIM}"\n'
        "offline = true\n"
        'evm_version = "cancun"\n'
        'remappings = ["@genoracle/contracts/=node_modules/@genoracle/contracts/"]\n'
        "[lint]\nlint_on_build = false\n"
    )
    _run([str(FORGE), "build"], project)
    artifact = json.loads((project / "out" / "MyGallery.sol" / "MyGallery.json").read_text())
    names = {item.get("name") for item in artifact["abi"]}
    assert {"draw", "onGenerationVerified", "onGenerationFailed", "oracle"} <= names
