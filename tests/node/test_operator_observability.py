"""What an operator's monitoring reads: JSON log lines from `genoracle node run --log-format
json`, `/health` naming served models that the registry does not list, and the build and
on-chain gauges in `/metrics`. Real node processes on Anvil."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, MODELS, TEXT_INPUT, TEXT_MODEL, start_nodes

from oracle.chain.views import read_version
from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain, stop_nodes
from oracle.logging_setup import configure_logging
from oracle.sdk.operators import operator_status
from oracle.version import __version__

GENORACLE = str(Path(sys.executable).parent / "genoracle")
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def _gauge(metrics: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", metrics, flags=re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_json_log_lines_carry_time_level_logger_message_and_task_id() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    try:
        node_log = logging.getLogger("genoracle.node")
        node_log.info("task %d: drawn (model %s)", 7, "tiny-sd")
        node_log.warning("chain error: line one\nline two")
        node_log.info("a step", extra={"task_id": 12})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            node_log.exception("unexpected error in the node loop")
        logging.getLogger("genoracle.node").debug("below the level")
    finally:
        configure_logging("warning", "text")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4, lines
    drawn, two_lines, explicit, failed = (json.loads(line) for line in lines)
    assert drawn["level"] == "INFO" and drawn["logger"] == "genoracle.node"
    assert drawn["message"] == "task 7: drawn (model tiny-sd)" and drawn["task_id"] == 7
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", drawn["time"])
    assert two_lines["message"] == "chain error: line one\nline two"
    assert "task_id" not in two_lines
    assert explicit["task_id"] == 12
    assert failed["level"] == "ERROR" and "RuntimeError: boom" in failed["exception"]


def test_node_run_writes_json_lines(tmp_path: Path) -> None:
    """A node whose RPC does not answer yet says so, in JSON, and keeps waiting."""
    config = tmp_path / "node.toml"
    config.write_text(
        '[chain]\nrpc_url = "http://127.0.0.1:9"\nmax_retries = 0\nretry_backoff_s = 0.01\n'
        f'[node]\ndata_dir = "{tmp_path / "data"}"\n'
    )
    process = subprocess.Popen(
        [GENORACLE, "node", "run", "--config", str(config), "--log-format", "json"],
        env={"GENORACLE_PRIVATE_KEY": ANVIL_KEY_1, "PATH": "/usr/bin:/bin", **_pythonpath()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
    finally:
        process.kill()
        process.wait(30)
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}, entry
    assert entry["level"] == "WARNING" and entry["logger"] == "genoracle.node"
    assert "http://127.0.0.1:9 unreachable" in entry["message"]
    assert "trying again" in entry["message"]


def test_a_spawned_child_logs_as_its_parent_prints_included() -> None:
    """What the inference worker does first (configure_worker_logging): its own records, a
    library's print and a progress bar's carriage-return updates all come out as JSON lines."""
    script = (
        "import logging, sys\n"
        "from oracle.logging_setup import configure_worker_logging\n"
        "configure_worker_logging('info', 'json')\n"
        "logging.getLogger('genoracle.worker').info('task 3: loaded')\n"
        "print('a library prints')\n"
        "sys.stderr.write('\\r 10%|#  |'); sys.stderr.flush()\n"
        "sys.stderr.write('\\r100%|###|\\n')\n"
        "import warnings; warnings.warn('deprecated thing')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == ""
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(entry["logger"], entry["message"]) for entry in entries[:3]] == [
        ("genoracle.worker", "task 3: loaded"),
        ("genoracle.worker.stdout", "a library prints"),
        ("genoracle.worker.stderr", "100%|###|"),
    ], entries
    assert entries[0]["task_id"] == 3
    assert entries[3]["logger"] == "py.warnings" and "deprecated thing" in entries[3]["message"]
    assert len(entries) == 4, entries


@pytest.mark.slow
def test_node_and_inference_worker_write_only_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three `genoracle node run --log-format json` (GENORACLE_LOG_FORMAT) on their own Anvil
    serve an image and a text task: every line the node processes and their inference worker
    processes write (stderr, and stdout too) is one JSON object, the workers' included."""
    monkeypatch.setenv("GENORACLE_LOG_FORMAT", "json")
    with oracle_chain(MODELS, operators=3) as net:
        nodes = start_nodes(net, tmp_path)
        try:
            client = net.requester_client()
            tasks = [client.submit(IMAGE_MODEL, IMAGE_INPUT), client.submit(TEXT_MODEL, TEXT_INPUT)]
            for task in tasks:
                assert client.wait(task.task_id, timeout_s=240).status == "resolved"
        finally:
            stop_nodes(nodes)
    for node in nodes:
        lines = node.log_path.read_text().splitlines()
        entries = []
        for number, line in enumerate(lines, start=1):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"{node.log_path}:{number} is not JSON: {line!r}") from None
        loggers = {entry["logger"] for entry in entries}
        assert {"genoracle.node", "genoracle.worker"} <= loggers, loggers
        worker_loaded = [
            entry
            for entry in entries
            if entry["logger"] == "genoracle.worker" and "models" in entry["message"]
        ]
        assert any("loaded" in entry["message"] for entry in worker_loaded), worker_loaded
        assert any(entry.get("task_id") == tasks[0].task_id for entry in entries)


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


@pytest.fixture(scope="module")
def api(honest_nodes: list[NodeProcess]) -> httpx.Client:
    return httpx.Client(base_url=honest_nodes[0].api_url, timeout=30)


def test_metrics_report_build_info_and_the_operators_stake_and_credit(
    api: httpx.Client, honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    metrics = api.get("/metrics").text
    on_chain = operator_status(honest_net.client(), honest_nodes[0].address)
    protocol = read_version(honest_net.client())
    python = ".".join(str(part) for part in sys.version_info[:3])
    build_info = (
        f'genoracle_build_info{{protocol="{protocol}",python="{python}",version="{__version__}"}}'
    )
    assert f"{build_info} 1.0" in metrics, metrics
    assert on_chain.stake_wei > 0
    assert _gauge(metrics, "genoracle_stake_wei") == pytest.approx(on_chain.stake_wei, rel=1e-15)
    assert _gauge(metrics, "genoracle_credit_wei") == pytest.approx(on_chain.credit_wei, rel=1e-15)
    assert _gauge(metrics, "genoracle_balance_wei") == pytest.approx(
        on_chain.balance_wei, rel=1e-15
    )
    assert _gauge(metrics, "genoracle_models_unregistered") == 0


def test_health_names_served_models_the_registry_does_not_list(
    api: httpx.Client, honest_net: OracleChain
) -> None:
    assert api.get("/health").json()["models_not_registered"] == {}
    image_model = "0x" + honest_net.models[IMAGE_MODEL].hex()
    registry = honest_net.client(honest_net.owner).registry()
    registry.transact("setModelActive", honest_net.models[IMAGE_MODEL], False)
    try:
        health = api.get("/health")
        assert health.status_code == 200
        assert health.json()["models_not_registered"] == {image_model: IMAGE_MODEL}
        assert _gauge(api.get("/metrics").text, "genoracle_models_unregistered") == 1
    finally:
        registry.transact("setModelActive", honest_net.models[IMAGE_MODEL], True)
    assert api.get("/health").json()["models_not_registered"] == {}
