"""The demo's flow end to end (tiny-llama instead of SmolLM2 to stay fast), every printed fact
checked again against the live chain before the demo tears it down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from deploy.artifacts import load_artifact
from deploy.deployer import CONSUMER_CONTRACT, audited_at, read_deployment
from inference.digests import digest_file
from inference.models import default_cache
from oracle.chain.views import read_model, read_operator
from oracle.config import load_node_config
from oracle.dev.demo import HONEST_STAKE_WEI, LAZY_STAKE_WEI, DemoReport, run_demo
from oracle.dev.demo_training import BASE_MODEL, ROUNDS, STEPS
from oracle.dev.localnet import OracleChain
from oracle.sdk.training import training_client


def _check_against_chain(report: DemoReport, chain: OracleChain, printed: str) -> None:
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    oracle = chain.deployment.oracle_contract(w3)
    consumer = w3.eth.contract(address=report.consumer, abi=load_artifact(CONSUMER_CONTRACT)["abi"])
    lazy = next(address for address, role in report.roles.items() if role == "lazy")
    lazy_drawn = 0
    for task in report.tasks:
        result = task.result
        members, _entropy = oracle.functions.committeeOf(task.task_id).call()
        committee = [str(a) for a in members]
        assert result.status == "resolved", result
        assert result.requester == report.consumer  # the dApp, not an EOA, asked
        result_digest = "0x" + bytes(oracle.functions.resultOf(task.task_id).call()).hex()
        assert result.digest == result_digest
        assert result_digest in printed
        assert sorted(vote.operator for vote in result.votes) == sorted(committee)
        # The dApp's callback recorded the verified digest.
        entry = consumer.functions.entry(task.task_id).call()
        assert entry[1] == 2 and "0x" + bytes(entry[3]).hex() == result_digest
        assert task.callback_status == "verified" and task.callback_digest == result_digest
        # Votes: honest members agree at distance 0 in every lane, the lazy one deviates.
        slashed = {
            event["args"]["operator"]
            for event in oracle.events.OperatorSlashed().get_logs(
                from_block=chain.deployment.block_number,
                argument_filters={"taskId": task.task_id},
            )
        }
        reveal_txs = {vote.reveal_tx for vote in result.votes}
        assert None not in reveal_txs
        assert f"reveals    3 in {len(reveal_txs)} transaction(s)" in printed
        for vote in result.votes:
            assert vote.digest is not None and vote.digest in printed
            if report.roles[vote.operator] == "honest":
                assert vote.agrees and vote.distances == (0, 0, 0, 0)
                assert vote.operator not in slashed
            else:
                lazy_drawn += 1
                assert vote.agrees is False and vote.operator in slashed
        # Payouts as printed equal the Credited logs of the resolving transaction.
        for payout in result.payouts:
            if payout.credited_wei:
                assert f"+{payout.credited_wei / 10**18:.6f} ETH" in printed
            if payout.slashed_wei:
                assert payout.account == lazy
                assert f"-{payout.slashed_wei / 10**18:.6f} ETH" in printed
        assert task.artifact_path is not None and task.artifact_path.is_file()
    # A 100-ETH lazy operator among 2-ETH honest ones misses both committees with p ~ 1e-7.
    assert lazy_drawn >= 1
    _check_audited(report, chain, printed, lazy)
    _check_training(report, chain, printed, lazy)
    lazy_stake = read_operator(chain.client(), lazy).stake_wei
    assert lazy_stake < LAZY_STAKE_WEI
    for address, role in report.roles.items():
        if role == "honest":
            assert read_operator(chain.client(), address).stake_wei == HONEST_STAKE_WEI
    # The verified image is the one saved, and its digest is the consensus.
    image = report.tasks[0]
    assert image.artifact_path is not None
    scheme = default_cache().get(image.request.model).manifest.digest_scheme
    assert "0x" + digest_file(image.artifact_path, scheme).hex() in printed
    assert report.verify_exit_code == 0, report.verify_output


def _check_audited(report: DemoReport, chain: OracleChain, printed: str, lazy: str) -> None:
    """The audited tasks: a lazy executor (p = 100/106 each) is outvoted by the auditors who
    recomputed its challenged part and slashed, the dApp told of the failure; an honest one is
    verified and the dApp gets the digest. Every printed fact is the chain's."""
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    assert chain.deployment.audited is not None
    audited = audited_at(w3, chain.deployment.audited)
    assert [t.request.kind for t in report.audited] == ["image", "text"]
    for task in report.audited:
        result = task.result
        members = [str(m) for m in audited.functions.membersOf(task.task_id).call()]
        assert [result.executor, *result.auditors] == members[: 1 + len(result.auditors)]
        # Only the lazy operator is ever slashed (as executor; as an auditor that fell behind).
        assert set(task.slashed) <= {lazy}
        assert task.submitted is not None and f"submitted  {task.submitted}" in printed
        if result.executor == lazy:
            # Outvoted on its sketches (image), or its tokens failed the auditors' logit margin
            # (text: they reveal "evidence withheld", which rejects it whatever it opens).
            assert result.status == "rejected"
            assert task.failure in ("executor outvoted", "evidence withheld")
            assert set(task.slashed) == {lazy}
            assert f"-{task.slashed[lazy] / 10**18:.6f} ETH" in printed
            assert task.callback_status == "failed"
        else:
            assert result.status == "resolved"
            verified = "0x" + bytes(audited.functions.resultOf(task.task_id).call()).hex()
            assert result.digest == verified == task.callback_digest
            assert task.callback_status == "verified"
        # Paid: every member in the majority (the auditors share a slashed executor's stake).
        for account, wei in task.credited.items():
            assert account not in task.slashed
            assert f"+{wei / 10**18:.6f} ETH" in printed
        majority = set(result.auditors) | (
            {result.executor} if result.status == "resolved" else set()
        )
        assert set(task.credited) == majority - set(task.slashed)


def _check_training(report: DemoReport, chain: OracleChain, printed: str, lazy: str) -> None:
    """The fine-tune: its committee, each round's payees, slashes and canonical checkpoint, the
    registered model derived from the base, and the generation from it, all as the chain has
    them. The lazy operator is drawn into 3 of 4 almost surely; if it was not, nobody is slashed
    and the demo says so."""
    assert report.training is not None
    submitted, outcome = report.training.submitted, report.training.outcome
    task_id = submitted.task_id
    training = training_client(chain.client())
    events = [
        e
        for e in training.logs(submitted.block_number, training.block_number())
        if int(e["args"].get("taskId", -1)) == task_id
    ]

    def named(name: str) -> list[Any]:
        return [e["args"] for e in events if e["event"] == name]

    (requested,) = named("TrainingRequested")
    assert requested["requester"] == chain.requester.address
    assert "0x" + bytes(requested["baseModelId"]).hex() == "0x" + chain.models[BASE_MODEL].hex()
    assert (int(requested["rounds"]), int(requested["stepsPerRound"])) == (ROUNDS, STEPS)
    (drawn,) = named("TrainingCommitteeDrawn")
    members = [str(m) for m in drawn["members"]]
    assert members == list(submitted.members) and len(members) == 3
    assert sorted(submitted.data_pushed_to) == sorted(members)
    honest = [m for m in members if report.roles[m] == "honest"]
    slashes = named("TrainingSlashed")
    resolved = named("RoundResolved")
    assert (
        [int(r["round"]) for r in resolved]
        == list(range(ROUNDS))
        == [r.round for r in outcome.rounds]
    )
    for event, printed_round in zip(resolved, outcome.rounds, strict=True):
        paid = [str(p) for p in event["paid"]]
        assert sorted(paid) == sorted(printed_round.paid) == sorted(honest)
        checkpoint = "0x" + bytes(event["canonicalCheckpoint"]).hex()
        assert checkpoint == printed_round.canonical_checkpoint
        assert f"canonical checkpoint {checkpoint} from {event['canonicalMember']}" in printed
        assert str(event["canonicalMember"]) in honest
        slashed = {str(e["operator"]) for e in slashes if e["round"] == event["round"]}
        assert slashed == set(printed_round.slashed) == ({lazy} if lazy in members else set())
    for member in honest:
        assert f"paid     {member} honest" in printed
    if lazy in members:
        assert len(slashes) == ROUNDS
        assert f"slashed  {lazy}   lazy  (deviated)" in printed
    else:
        assert not slashes and "the lazy operator was not drawn" in printed
    # Completed: the final canonical checkpoint is the registered model's weights.
    (completed,) = named("TrainingCompleted")
    model_id = "0x" + bytes(completed["modelId"]).hex()
    assert completed["registered"] and model_id == outcome.model_id
    assert "0x" + bytes(completed["weightsSha256"]).hex() == outcome.weights_sha256
    assert f"model      {model_id} registered" in printed
    assert int(training.view("getTrainingTask", task_id)["status"]) == 3  # Completed
    registry = chain.client().registry()
    derived = [
        e["args"]
        for e in registry.logs(submitted.block_number, registry.block_number())
        if e["event"] == "DerivedModelRegistered"
    ]
    model = bytes(completed["modelId"])
    assert [bytes(e["parentId"]) for e in derived if bytes(e["modelId"]) == model] == [
        chain.models[BASE_MODEL]
    ]
    assert read_model(chain.client(), model) is not None
    # The generation: resolved on the trained model by the honest operators now serving it (one
    # outside the committee, when the lazy one was drawn, with the weights it fetched).
    result = report.training.generation
    assert result is not None and result.status == "resolved", result
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    oracle = chain.deployment.oracle_contract(w3)
    assert result.model_id == model_id
    everyone_honest = sorted(a for a, role in report.roles.items() if role == "honest")
    assert sorted(report.training.servers) == everyone_honest
    assert sorted(report.training.fetched_by) == sorted(set(everyone_honest) - set(honest))
    committee = [str(a) for a in oracle.functions.committeeOf(result.task_id).call()[0]]
    assert sorted(committee) == everyone_honest
    verified = "0x" + bytes(oracle.functions.resultOf(result.task_id).call()).hex()
    assert result.digest == verified
    assert f"== Task {result.task_id}: image from the trained model {model_id}" in printed
    assert f"status     resolved; consensus {verified}" in printed
    assert all(vote.agrees and vote.digest in printed for vote in result.votes)


def _check_node_configs(out_dir: Path, report: DemoReport) -> None:
    """The nodes found the oracle through the demo's deployment record (no address in their
    configs), and their data lies where their configs say, not nested inside itself (a relative
    out dir used to give demo-output/nodes/operator-0/demo-output/nodes/operator-0/data)."""
    record = read_deployment(out_dir / "deployments" / "31337.json")
    assert record.oracle == report.oracle
    for operator in sorted((out_dir / "nodes").iterdir()):
        config = load_node_config(operator / "node.toml")
        assert config.chain.oracle_address is None
        assert config.chain.deployments_dir == (out_dir / "deployments").resolve()
        assert config.node.data_dir == (operator / "data").resolve()
        assert (operator / "data" / "node.sqlite3").is_file()
        assert not (operator / "demo-output").exists()


@pytest.mark.timeout(900)
def test_demo_flow_is_true_on_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # `make demo` passes a relative --out
    out_dir = Path("demo-output")
    lines: list[str] = []
    checked: list[bool] = []

    def inspect(report: DemoReport, chain: OracleChain) -> None:
        _check_against_chain(report, chain, "\n".join(lines))
        checked.append(True)

    report = run_demo(out_dir, text_model="tiny-llama", echo=lines.append, inspect=inspect)
    assert checked == [True]
    printed = "\n".join(lines)
    assert "callback   dApp recorded 'verified'" in printed
    assert "Stopping the nodes and Anvil." in printed
    assert (out_dir / f"task-{report.tasks[1].task_id}-text.txt").read_text()
    _check_node_configs(out_dir, report)
