"""Training tasks end to end: three real node processes serving Digits-Gen on a real Anvil fine-tune
it in synchronised rounds (TrainingTasks). Two honest members agree every round and are paid; a
lazy trainer (half the steps) is outvoted and slashed every round, fetches the canonical
checkpoint from a peer (checked by sha256) and continues from it; the final checkpoint is
registered as a model derived from Digits-Gen, and its weights are served by sha256."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from oracle_testlib import assert_everybody_paid, start_nodes
from web3 import Web3

from inference.training.data import demo_dataset
from oracle.chain.views import read_model, read_operator
from oracle.cli import main
from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain, stop_nodes
from oracle.sdk.training import submit_training, training_client, wait_training

MODEL = "digits"
CONDUCTS = ("honest", "honest", "lazy-trainer")
ROUNDS, STEPS = 3, 4


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((MODEL,), operators=3) as chain:
        yield chain


@pytest.fixture(scope="module")
def nodes(
    net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    started = start_nodes(
        net,
        tmp_path_factory.mktemp("training"),
        CONDUCTS,
        models=(MODEL,),
        extra_node={"training_fetch_wait_s": 15.0},
    )
    yield started
    stop_nodes(started)


def stakes(net: OracleChain) -> dict[str, int]:
    oracle = net.client()
    return {a.address: read_operator(oracle, a.address).stake_wei for a in net.operators}


def assert_training_invariant(net: OracleChain) -> None:
    """The oracle's balance invariant, and TrainingTasks holds exactly its open tasks' fees."""
    sys.path.append(str(Path(__file__).resolve().parents[1] / "contracts"))
    from contract_testlib import assert_balance_invariant

    w3 = Web3(Web3.HTTPProvider(net.rpc_url))
    oracle = net.deployment.oracle_contract(w3)
    people = [a.address for a in (*net.operators, net.requester, net.owner)]
    assert_balance_invariant(oracle, people)
    training = training_client(net.client())
    assert net.deployment.training is not None
    open_fees = 0
    offset = int(training.view("TASK_ID_OFFSET"))
    for n in range(1, int(training.view("taskCount")) + 1):
        info = training.view("getTrainingTask", offset + n)
        if int(info["status"]) in (1, 2):
            open_fees += int(info["fee"])
    assert w3.eth.get_balance(Web3.to_checksum_address(net.deployment.training)) == open_fees


@pytest.mark.slow  # the same node processes: one short round through the CLI
def test_cli_trains_and_prints_each_round_and_the_model(
    net: OracleChain, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    data = tmp_path / "digits.godata"
    demo_dataset(examples=64).save(data)
    args = ["task", "train", "--rpc-url", net.rpc_url, "--oracle", net.deployment.oracle]
    args += ["--data", str(data), "--rounds", "1", "--steps", "2", "--batch-size", "8"]
    args += ["--seed", "5", "--wait", "--timeout", "300"]
    env = {"GENORACLE_PRIVATE_KEY": net.requester.key.hex()}
    cli = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert cli.exit_code == 0, (cli.output, [n.log()[-3000:] for n in nodes])
    lines = cli.output.strip().splitlines()
    assert lines[0].startswith("training task ") and "pushed to 3 of 3 members" in lines[0]
    (lazy,) = (n.address for n in nodes if n.conduct != "honest")
    assert lines[1].startswith("round 0: accepted, 2 paid") and f"{lazy} (deviated)" in lines[1]
    assert lines[2].startswith("completed: model 0x")


@pytest.mark.slow  # three node processes and three rounds of fine-tuning: about a minute
def test_three_round_fine_tune_pays_the_honest_and_slashes_the_lazy_trainer(
    net: OracleChain, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    honest = {n.address for n in nodes if n.conduct == "honest"}
    (lazy,) = (n.address for n in nodes if n.conduct != "honest")
    before = stakes(net)
    requester = net.client(net.requester)
    started = time.monotonic()
    task = submit_training(
        requester,
        demo_dataset(examples=128),
        rounds=ROUNDS,
        steps=STEPS,
        batch_size=8,
        seed=1616,
    )
    assert set(task.data_pushed_to) == {n.address for n in nodes}, task
    seen: list[int] = []
    outcome = wait_training(
        requester,
        task.task_id,
        timeout_s=600,
        poll_s=0.5,
        from_block=task.block_number,
        on_round=lambda r: seen.append(r.round),
    )
    elapsed = time.monotonic() - started
    logs = [n.log()[-4000:] for n in nodes]
    assert outcome.status == "completed", (outcome, logs)
    assert seen == list(range(ROUNDS))
    assert len(outcome.rounds) == ROUNDS
    for result in outcome.rounds:
        assert set(result.paid) == honest, (result, logs)
        assert result.slashed == {lazy: "deviated"}, (result, logs)
        assert result.canonical_member in honest
    # Slashed every round, never anyone else.
    after = stakes(net)
    assert after[lazy] < before[lazy]
    assert all(after[a] == before[a] for a in honest)
    assert_training_invariant(net)

    # The trained model: registered, derived from Digits-Gen, its weights served by sha256.
    assert outcome.model_id is not None and outcome.weights_sha256 is not None
    assert read_model(net.client(), bytes.fromhex(outcome.model_id[2:])) is not None
    weights = outcome.weights_sha256.removeprefix("0x")
    served = next(n for n in nodes if n.address == outcome.rounds[-1].canonical_member)
    response = httpx.get(f"{served.api_url}/training/checkpoints/{weights}", timeout=30)
    assert response.status_code == 200 and sha256(response.content).hexdigest() == weights

    # The lazy trainer continued from the canonical checkpoints it fetched from a peer.
    lazy_node = next(n for n in nodes if n.address == lazy)
    status = httpx.get(f"{lazy_node.api_url}/training/tasks/{task.task_id}", timeout=30).json()
    assert status["rounds_committed"] == list(range(ROUNDS)) and not status["rejections"]
    assert "fetched the canonical checkpoint" in lazy_node.log()
    print(f"\n{ROUNDS} rounds of {STEPS} steps in {elapsed:.1f} s ({elapsed / ROUNDS:.1f} s/round)")

    # The trained model generates: every member wrote its model folder (the lazy trainer from the
    # fetched final checkpoint); restarted with it and serving it on chain, a committee runs a
    # generation task of the new model, and every member agrees.
    folders = {
        n.address: httpx.get(f"{n.api_url}/training/tasks/{task.task_id}", timeout=30).json()[
            "model_folder"
        ]
        for n in nodes
    }
    assert all(folders.values()), folders
    stop_nodes(nodes)
    for account in net.operators:
        net.client(account).transact("serveModel", bytes.fromhex(outcome.model_id[2:]))
    generators = [
        NodeProcess(net, a, tmp_path / f"gen{i}", models=(MODEL, folders[a.address]))
        for i, a in enumerate(net.operators)
    ]
    for node in generators:
        node.start()
    try:
        for node in generators:
            node.wait_ready()
        client = net.requester_client()
        prompt = {"prompt": "a digit 7", "width": 64, "height": 64, "steps": 10}
        submitted = client.submit(outcome.model_id, prompt)
        result = client.wait(submitted.task_id, timeout_s=300)
        assert result.model_id == outcome.model_id
        assert_everybody_paid(result, generators)
    finally:
        stop_nodes(generators)
