"""The container files: a Dockerfile for the genoracle command (node, gateway, Anvil) and a compose
file for Anvil + setup + one node. Here they are parsed and checked against the repository; the
image is built only where a Docker daemon runs (the test says why it skipped otherwise)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from oracle.config import load_node_config

ROOT = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        joined += line[:-1] + " " if line.endswith("\\") else line + "\n"
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.strip().partition(" ") for line in joined.splitlines())
        if word
    ]


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return compose


def _dockerignored() -> set[str]:
    return {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line}


def test_dockerfile_copies_only_paths_the_repository_holds() -> None:
    copies = [args for name, args in _instructions() if name == "COPY"]
    sources = [
        source
        for args in copies
        if not args.startswith("--from=")
        for source in shlex.split(args)[:-1]
    ]
    assert {"requirements.lock", "oracle", "inference", "deploy", "docker/node.toml"} <= set(
        sources
    )
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    for source in sources:
        assert any(p == source or p.startswith(source + "/") for p in tracked), (
            f"the Dockerfile copies {source}, which the repository does not hold"
        )
        assert source.split("/")[0] not in _dockerignored(), f".dockerignore drops {source}"


def test_dockerfile_takes_anvil_at_the_version_package_json_pins() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"][
        "@foundry-rs/anvil-linux-amd64"
    ]
    args = [args for name, args in _instructions() if name == "ARG"]
    assert f"ANVIL_VERSION={pinned}" in args


def test_compose_runs_anvil_a_setup_and_a_node_from_the_image(tmp_path: Path) -> None:
    services = _compose()["services"]
    assert set(services) == {"anvil", "setup", "node"}
    for service in services.values():
        assert service["build"] == "." and service["image"] == "genoracle:0.2.0"
    assert services["anvil"]["command"][:3] == ["anvil", "--host", "0.0.0.0"]
    assert services["setup"]["depends_on"]["anvil"]["condition"] == "service_healthy"
    node = services["node"]
    assert node["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    command = node["command"]
    assert command[:3] == ["genoracle", "node", "run"]
    assert command[command.index("--log-format") + 1] == "json"
    config_path = ROOT / command[command.index("--config") + 1]
    config = load_node_config(config_path)
    assert config.chain.rpc_url == "http://anvil:8545"
    assert config.api.host == "0.0.0.0" and config.api.port == 8700
    assert "127.0.0.1:8700:8700" in node["ports"]
    setup = services["setup"]["command"][0]
    assert "--endpoint http://node:8700" in setup and "--config docker/node.toml" in setup


def _docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info did not answer within 30 s"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"no Docker daemon: {reason}"
    return None


@pytest.mark.skipif(_docker_unavailable() is not None, reason=str(_docker_unavailable()))
def test_the_image_builds_and_answers() -> None:
    subprocess.run(
        ["docker", "build", "--tag", "genoracle:0.2.0", "."], cwd=ROOT, check=True, timeout=3600
    )
    for command in (["genoracle", "--help"], ["anvil", "--version"]):
        done = subprocess.run(
            ["docker", "run", "--rm", "genoracle:0.2.0", *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
