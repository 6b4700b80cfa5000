"""Registering models after a deployment: `genoracle models register NAME|FOLDER` (the registry
owner's key), the same in the SDK, and `genoracle chain up` registering the built-ins it serves.
Every flow used to end at "model ... is not registered". Real Anvil, real `genoracle` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.deployer import load_deployment
from inference.manifest import load_manifest
from inference.models import resolve_model_folder
from oracle.chain.client import ChainClient
from oracle.chain.views import ModelKind, read_model
from oracle.config import ChainSettings
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.sdk.client import OracleClient

GENORACLE = str(Path(sys.executable).parent / "genoracle")


@pytest.fixture
def bare_net() -> Iterator[OracleChain]:
    """A fresh chain with the oracle deployed and no model registered, no operator."""
    with oracle_chain((), operators=0) as chain:
        yield chain


def genoracle(*args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENORACLE_")}
    return subprocess.run(
        [GENORACLE, *args],
        env={**env, "GENORACLE_PRIVATE_KEY": key},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_owner_registers_a_builtin_and_a_folder_from_the_cli(bare_net: OracleChain) -> None:
    chain_args = ("--rpc-url", bare_net.rpc_url, "--oracle", bare_net.deployment.oracle)
    owner_key = bare_net.owner.key.hex()
    folder = resolve_model_folder("tiny-llama")
    image = load_manifest(resolve_model_folder("tiny-sd"))
    text = load_manifest(folder)

    result = genoracle("models", "register", "tiny-sd", str(folder), *chain_args, key=owner_key)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("registered (tx 0x" in line for line in lines)
    assert lines[0].startswith(f"tiny-sd  {image.model_id_hex}  image, {image.digest_scheme}")
    client = bare_net.client()
    for manifest, kind, uri in (
        (image, ModelKind.IMAGE, "genoracle:builtin/tiny-sd"),
        (text, ModelKind.TEXT, "genoracle:model/tiny-llama"),
    ):
        view = read_model(client, bytes(manifest.model_id))
        assert view is not None and view.active and view.kind == kind
        assert view.digest_scheme == manifest.digest_scheme
        assert view.default_tolerance == manifest.tolerance.to_uint32()
        assert view.max_tolerance == manifest.maximum_tolerance.to_uint32()
        assert view.metadata_uri == uri

    again = genoracle("models", "register", "tiny-sd", *chain_args, key=owner_key)
    assert again.returncode == 0 and again.stdout.strip().endswith(": registered already")

    # A request now gets past "not registered" to the next thing a newcomer must do.
    submit = genoracle(
        "task", "submit", *chain_args, "--model", "tiny-sd", "--prompt", "a fox", key=owner_key
    )
    assert submit.returncode == 1
    assert submit.stderr.strip().splitlines() == [
        f"Error: requestGeneration: contract reverted with NotEnoughOperators(modelId="
        f"{image.model_id_hex}, eligible=0, requested=3); only 0 operator(s) can be drawn for "
        "this model now (busy nodes pause their assignments until their queues drain): retry in "
        "a while, ask for a smaller odd committee, or have more operators serve it (`genoracle "
        "operator register --model ...`)"
    ]


def test_a_key_that_does_not_own_the_registry_is_refused_before_sending(
    bare_net: OracleChain,
) -> None:
    stranger = bare_net.anvil.accounts()[7]
    nonce = bare_net.client().w3.eth.get_transaction_count(stranger.address)
    result = genoracle(
        "models",
        "register",
        "tiny-sd",
        "--rpc-url",
        bare_net.rpc_url,
        "--oracle",
        bare_net.deployment.oracle,
        key=stranger.key.hex(),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: only the model registry's owner {bare_net.owner.address} may register models; "
        f"the configured key is {stranger.address}: sign with the deployer's key (or the "
        "--owner given to `genoracle deploy`)"
    )
    assert bare_net.client().w3.eth.get_transaction_count(stranger.address) == nonce


def test_the_sdk_registers_a_model(bare_net: OracleChain) -> None:
    client = OracleClient(bare_net.client(bare_net.owner))
    registration = client.register_model("tiny-llama")
    manifest = load_manifest(resolve_model_folder("tiny-llama"))
    assert registration.model_id == manifest.model_id and not registration.already_registered
    assert client.model("tiny-llama").model_id == manifest.model_id
    assert client.register_model("tiny-llama").already_registered


def test_chain_up_registers_the_builtins_it_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENORACLE_")}
    process = subprocess.Popen(
        [GENORACLE, "chain", "up", "--port", "0", "--records-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"chain up exited:\n{''.join(lines)}"
            lines.append(line)
            if line.startswith("  [4] "):  # the last funded account: the chain is ready
                break
        rpc_url = lines[0].split()[1]
        settings = ChainSettings(rpc_url=rpc_url, deployments_dir=tmp_path)
        client = ChainClient(settings)
        assert client.address == load_deployment(client.chain_id, tmp_path).oracle
        for name in ("tiny-sd", "tiny-llama"):
            model_id = bytes(load_manifest(resolve_model_folder(name)).model_id)
            assert read_model(client, model_id) is not None, "".join(lines)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "anvil stopped" in process.stdout.read()
