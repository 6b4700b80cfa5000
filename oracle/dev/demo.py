"""`genoracle demo`: the whole story on an embedded Anvil, from deployment to a verified image.

Nothing is simulated: an Anvil process, the committed contract artifacts, four `genoracle node run`
processes (three honest operators and one test-only `lazy` one), the example consumer dApp asking
for an image and a completion (each verified by a committee of three), then for an audited image
and an audited completion (one executor, two auditors who recompute a challenged part), the
`genoracle verify` command run on the saved image, and a 3-round fine-tune of Digits-Gen whose
registered model then serves a generation (oracle/dev/demo_training.py). The facts it prints are
read back from the chain, and `run_demo` returns them so that a test can check each one against
the chain again.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import Wei

from deploy.anvil import AnvilProcess
from deploy.artifacts import load_artifact
from deploy.deployer import CONSUMER_CONTRACT, audited_at, deploy_oracle, send_transaction
from oracle.chain.client import ChainClient
from oracle.dev.demo_audited import (
    AUDITORS,
    DemoAuditedTask,
    audited_outcome,
    print_audited_task,
    request_audited_through_consumer,
)
from oracle.dev.demo_requests import (
    DemoRequest,
    audited_requests,
    callback_of,
    default_requests,
)
from oracle.dev.demo_training import (
    BASE_MODEL,
    ROUNDS,
    TRAINING_NODE_SETTINGS,
    DemoTraining,
    generate_from_trained_model,
    print_training,
    run_training,
    serve_trained_model,
)
from oracle.dev.localnet import (
    E2E_ORACLE_CONFIG,
    ETHER,
    GENORACLE,
    NodeProcess,
    OracleChain,
    stop_nodes,
    wait_until,
)
from oracle.sdk.audited import audited_client, wait_audited
from oracle.sdk.models import register_model
from oracle.sdk.results import TaskResult, task_result

Echo = Callable[[str], None]

HONEST_STAKE_WEI = 2 * ETHER
#: The lazy operator stakes more, hoping to earn more while skipping work. Its weight also makes it
#: all but certain to be drawn into a committee of 3 out of 4 (> 99.99 %), and the executor of an
#: audited task with p = 100/106, so the demo shows a slash in both modes.
LAZY_STAKE_WEI = 100 * ETHER
COMMITTEE_SIZE = 3
FEE_PER_TASK_WEI = 3 * 10**16


@dataclass
class DemoTask:
    """What happened to one request, as read back from the chain."""

    request: DemoRequest
    task_id: int
    input_json: str
    result: TaskResult
    callback_status: str
    callback_digest: str | None
    artifact_path: Path | None = None


@dataclass
class DemoReport:
    """Everything the demo printed, for a reader or a test."""

    rpc_url: str
    oracle: str
    consumer: str
    roles: dict[str, str]
    tasks: list[DemoTask] = field(default_factory=list)
    audited: list[DemoAuditedTask] = field(default_factory=list)
    verify_output: str = ""
    verify_exit_code: int | None = None
    training: DemoTraining | None = None
    seconds: float = 0.0


class _Progress:
    """Numbered steps with their duration: the demo's progress display."""

    def __init__(self, echo: Echo, total: int) -> None:
        self.echo = echo
        self.total = total
        self.done = 0

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.done += 1
        self.echo(f"[{self.done}/{self.total}] {what} ...")
        start = time.perf_counter()
        yield
        self.echo(f"      done in {time.perf_counter() - start:.1f} s")


def run_demo(
    out_dir: Path,
    *,
    image_model: str = "tiny-sd",
    text_model: str = "smollm2-135m",
    echo: Echo = print,
    timeout_s: float = 240.0,
    inspect: Callable[[DemoReport, OracleChain], None] | None = None,
) -> DemoReport:
    """Run the whole flow; every process started here is stopped before returning.

    `inspect`, when given, is called with the report and the live chain just before the nodes and
    Anvil stop, so a test can check each printed fact against the chain.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    # Node state and the deployment record of an earlier run belong to a chain that no longer
    # exists. The nodes find the oracle through this run's record, as an operator's node does.
    records_dir = out_dir / "deployments"
    for stale in (out_dir / "nodes", records_dir):
        shutil.rmtree(stale, ignore_errors=True)
    requests = default_requests(image_model, text_model)
    models = tuple(dict.fromkeys([*(request.model for request in requests), BASE_MODEL]))
    audited = audited_requests(image_model, text_model)
    progress = _Progress(echo, 12)

    with progress.step(f"Building the models {', '.join(models)} (cached after the first run)"):
        _build_models(models)

    with contextlib.ExitStack() as stack:
        with progress.step("Starting Anvil on 127.0.0.1"):
            anvil = stack.enter_context(AnvilProcess(accounts=12))
            accounts = anvil.accounts()
            w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
            echo(f"      {anvil.rpc_url}, chain id {w3.eth.chain_id}")

        with progress.step("Deploying the oracle and the example dApp (committed artifacts)"):
            deployment = deploy_oracle(
                w3, accounts[0], E2E_ORACLE_CONFIG, example_consumer=True, records_dir=records_dir
            )
            assert deployment.consumer is not None
            operators = accounts[1:5]
            chain = OracleChain(anvil, deployment, accounts[0], operators, accounts[11])
            echo(f"      oracle {deployment.oracle}, dApp {deployment.consumer}")

        with progress.step(f"Registering the models {', '.join(models)}"):
            owner = chain.client(chain.owner)
            for name in models:
                chain.models[name] = register_model(owner, name).model_id
                echo(f"      {name}: model id 0x{chain.models[name].hex()}")

        roles = {str(account.address): "honest" for account in operators[:3]}
        roles[str(operators[3].address)] = "lazy"
        report = DemoReport(anvil.rpc_url, deployment.oracle, deployment.consumer, roles)
        with progress.step("Registering four operators (three honest, one lazy) and their nodes"):
            nodes = _start_nodes(
                chain, operators, roles, models, out_dir / "nodes", records_dir, stack
            )
            for node in nodes:
                stake = LAZY_STAKE_WEI if roles[node.address] == "lazy" else HONEST_STAKE_WEI
                echo(f"      {node.address} {roles[node.address]:>6}, stake {stake / ETHER:g} ETH")

        with progress.step("The dApp requests an image and a completion"):
            consumer = _consumer(w3, deployment.consumer)
            task_ids = [
                _request_through_consumer(w3, consumer, chain.requester, chain.models[r.model], r)
                for r in requests
            ]
            for request, task_id in zip(requests, task_ids, strict=True):
                echo(f"      task {task_id}: {request.kind} from {request.model}")

        with progress.step("Waiting for the committees to commit, reveal and resolve"):
            client = chain.client()
            for request, task_id in zip(requests, task_ids, strict=True):
                result = _wait_final(client, task_id, deployment.block_number, timeout_s)
                status, digest = callback_of(consumer, task_id)
                input_json = request.canonical_input.decode()
                report.tasks.append(DemoTask(request, task_id, input_json, result, status, digest))

        with progress.step(
            f"The dApp requests an audited image and completion (1 executor, {AUDITORS} auditors "
            "who recompute one challenged step or position)"
        ):
            audited_tasks = audited_at(w3, deployment.audited) if deployment.audited else None
            if audited_tasks is None:
                raise RuntimeError("the demo's deployment has no AuditedTasks attached")
            audited_ids = [
                request_audited_through_consumer(
                    w3, consumer, audited_tasks, chain.requester, chain.models[r.model], r
                )
                for r in audited
            ]
            for request, task_id in zip(audited, audited_ids, strict=True):
                echo(f"      audited task {task_id}: {request.kind} from {request.model}")

        with progress.step("Waiting for the executor to submit and the auditors to judge it"):
            reader = audited_client(chain.client())
            for request, task_id in zip(audited, audited_ids, strict=True):
                outcome = wait_audited(reader, task_id, timeout_s, poll_s=0.5)
                report.audited.append(
                    audited_outcome(audited_tasks, consumer, request, outcome, deployment)
                )

        with progress.step("Saving the artifacts and verifying the image with `genoracle verify`"):
            for task in report.tasks:
                task.artifact_path = _save_artifact(task, nodes, roles, out_dir)
            image = report.tasks[0]
            if image.artifact_path is not None:
                args = ["verify", "--task", str(image.task_id), "--rpc-url", anvil.rpc_url]
                args += ["--oracle", deployment.oracle, str(image.artifact_path)]
                verify = subprocess.run(
                    [GENORACLE, *args], capture_output=True, text=True, timeout=120, check=False
                )
                report.verify_output = (verify.stdout + verify.stderr).strip()
                report.verify_exit_code = verify.returncode

        with progress.step(f"The requester asks for a {ROUNDS}-round fine-tune of {BASE_MODEL}"):
            report.training = training = run_training(chain, echo, timeout_s)

        with progress.step("Its honest trainers restart serving the new model; an image from it"):
            serve_trained_model(
                chain, training, nodes, roles, (BASE_MODEL,), records_dir, stack, timeout_s
            )
            generate_from_trained_model(chain, training, timeout_s)
        echo("")
        for task in report.tasks:
            _print_task(echo, task, roles)
        for audited_task in report.audited:
            print_audited_task(echo, audited_task, roles)
        echo(f"$ genoracle verify --task {report.tasks[0].task_id} {report.tasks[0].artifact_path}")
        echo(report.verify_output)
        echo("")
        print_training(echo, training, roles)
        if inspect is not None:
            inspect(report, chain)
        echo("Stopping the nodes and Anvil.")
    report.seconds = time.perf_counter() - started
    echo(f"Demo finished in {report.seconds:.0f} s; artifacts in {out_dir}")
    return report


def _build_models(models: tuple[str, ...]) -> None:
    from inference.models import resolve_model_folder

    for name in models:
        resolve_model_folder(name)


def _start_nodes(
    chain: OracleChain,
    operators: list[LocalAccount],
    roles: dict[str, str],
    models: tuple[str, ...],
    workdir: Path,
    records_dir: Path,
    stack: contextlib.ExitStack,
) -> list[NodeProcess]:
    nodes: list[NodeProcess] = []
    stack.callback(stop_nodes, nodes)  # every node started below, stopped side by side
    for index, account in enumerate(operators):
        role = roles[account.address]
        stake = LAZY_STAKE_WEI if role == "lazy" else HONEST_STAKE_WEI
        chain.client(account).transact(
            "register",
            f"http://operator-{index}.demo",
            [chain.models[name] for name in models],
            value=stake,
        )
        node = NodeProcess(
            chain,
            account,
            workdir / f"operator-{index}",
            models=models,
            conduct=role,
            records_dir=records_dir,
            extra_node=TRAINING_NODE_SETTINGS,
        )
        nodes.append(node)
        node.start()
    for node in nodes:
        node.wait_ready(timeout=180)
    return nodes


def _consumer(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(CONSUMER_CONTRACT)["abi"]
    )


def _request_through_consumer(
    w3: Web3, consumer: Contract, patron: LocalAccount, model_id: bytes, request: DemoRequest
) -> int:
    """The dApp's own entry point: it pays the fee and becomes the oracle's requester."""
    call = consumer.functions.requestGeneration(model_id, request.canonical_input, COMMITTEE_SIZE)
    tx = call.build_transaction({"from": patron.address, "value": Wei(FEE_PER_TASK_WEI)})
    # The draw's gas depends on the block's randomness: let the sender estimate with a margin.
    del tx["gas"]
    receipt = send_transaction(w3, patron, tx)
    events = consumer.events.GenerationRequested().process_receipt(receipt, errors=DISCARD)
    return int(events[0]["args"]["taskId"])


def _wait_final(client: ChainClient, task_id: int, from_block: int, timeout_s: float) -> TaskResult:
    def final() -> TaskResult | None:
        result = task_result(client, task_id, from_block=from_block)
        return result if result is not None and result.final else None

    result: TaskResult = wait_until(final, timeout_s, f"task {task_id} to be final")
    return result


def _save_artifact(
    task: DemoTask, nodes: list[NodeProcess], roles: dict[str, str], out_dir: Path
) -> Path | None:
    """Fetch the artifact from an honest operator that agreed, over its HTTP API."""
    for vote in task.result.votes:
        if not vote.agrees or roles.get(vote.operator) != "honest":
            continue
        node = next(n for n in nodes if n.address == vote.operator)
        response = node.get(f"/tasks/{task.task_id}/artifact")
        if response.status_code == 200:
            path = out_dir / f"task-{task.task_id}-{task.request.kind}{task.request.suffix}"
            path.write_bytes(response.content)
            return path
    return None


def _print_task(echo: Echo, task: DemoTask, roles: dict[str, str]) -> None:
    result = task.result
    echo(f"== Task {task.task_id}: {task.request.kind} from {task.request.model}")
    echo(f"   input      {task.input_json}")
    tolerance = "/".join(str(t) for t in result.tolerance)
    echo(f"   tolerance  {tolerance} bits per lane (lanes 0/1/2/3)")
    for vote in result.votes:
        role = roles.get(vote.operator, "?")
        if vote.digest is None:
            echo(f"   {vote.operator} {role:>6}  did not reveal")
            continue
        distances = "/".join(str(d) for d in vote.distances) if vote.distances else "-"
        verdict = "agrees" if vote.agrees else "deviates"
        echo(f"   {vote.operator} {role:>6}  {vote.digest}  distance {distances}  {verdict}")
    echo(f"   status     {result.status}; consensus {result.digest} (support {result.support})")
    reveal_txs = [vote.reveal_tx for vote in result.votes if vote.reveal_tx is not None]
    transactions = len(set(reveal_txs))
    echo(
        f"   reveals    {len(reveal_txs)} in {transactions} transaction(s)"
        + (
            " (aggregated: one member submitted the others' openings)"
            if transactions < len(reveal_txs)
            else ""
        )
    )
    for payout in result.payouts:
        role = roles.get(payout.account, "requester/treasury")
        if payout.credited_wei:
            echo(
                f"   paid       {payout.account} {role:>6}  +{payout.credited_wei / ETHER:.6f} ETH"
            )
        if payout.slashed_wei:
            echo(f"   slashed    {payout.account} {role:>6}  -{payout.slashed_wei / ETHER:.6f} ETH")
    callback = task.callback_status
    echo(f"   callback   dApp recorded '{callback}' with digest {task.callback_digest}")
    if task.artifact_path is not None:
        echo(f"   artifact   {task.artifact_path}")
        if task.artifact_path.suffix == ".txt":
            echo(f"   text       {task.artifact_path.read_text()!r}")
    echo("")
