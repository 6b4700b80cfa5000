"""A local oracle network: Anvil with the oracle deployed, models registered, operators staked,
and verifier nodes run as real `genoracle node run` processes.

Used by the end-to-end tests, the e2e benchmark and demos; nothing here is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from web3 import Web3

from deploy.anvil import AnvilProcess
from deploy.deployer import Deployment, OracleConfig, deploy_oracle
from oracle.chain.client import ChainClient
from oracle.config import ChainSettings
from oracle.sdk.client import OracleClient
from oracle.sdk.models import register_model

GENORACLE = str(Path(sys.executable).parent / "genoracle")
API_TOKEN = "localnet-operator-token"
ETHER = 10**18

#: Oracle parameters for end-to-end runs: windows long enough for queued inference on a busy
#: machine; tests that need a deadline to pass move the chain's clock instead of waiting.
E2E_ORACLE_CONFIG = OracleConfig(
    min_stake=ETHER,
    min_fee_per_member=10**15,
    commit_window=600,
    reveal_window=600,
    unbonding_delay=600,
    slash_deviation_bps=1000,
    slash_no_commit_bps=500,
    max_callback_gas_limit=1_000_000,
    max_committee_size=7,
    treasury="0x000000000000000000000000000000000000dEaD",
)


def chain_settings(rpc_url: str, deployment: Deployment, **overrides: Any) -> ChainSettings:
    values: dict[str, Any] = {
        "rpc_url": rpc_url,
        "oracle_address": deployment.oracle,
        "poll_interval_s": 0.1,
        "retry_backoff_s": 0.05,
        "max_retries": 2,
        "rpc_timeout_s": 5.0,
    }
    values.update(overrides)
    return ChainSettings(**values)


@dataclass
class OracleChain:
    """An Anvil chain with the oracle deployed, ready for nodes and requesters."""

    anvil: AnvilProcess
    deployment: Deployment
    owner: LocalAccount
    operators: list[LocalAccount]
    requester: LocalAccount
    models: dict[str, bytes] = field(default_factory=dict)

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def client(
        self, account: LocalAccount | None = None, rpc_url: str | None = None, **settings: Any
    ) -> ChainClient:
        return ChainClient(
            chain_settings(rpc_url or self.rpc_url, self.deployment, **settings), account
        )

    def requester_client(self) -> OracleClient:
        return OracleClient(self.client(self.requester), start_block=self.deployment.block_number)

    def rpc(self, method: str, params: list[Any]) -> Any:
        response = httpx.post(
            self.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=30,
        )
        body = response.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body.get("result")

    def advance_time(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block, so time-based phases change."""
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])


@contextlib.contextmanager
def oracle_chain(
    models: tuple[str, ...],
    operators: int = 3,
    config: OracleConfig = E2E_ORACLE_CONFIG,
    stake_wei: int = 2 * ETHER,
    anvil_state: Path | None = None,
) -> Iterator[OracleChain]:
    """Anvil + oracle + registered models + `operators` staked operators (accounts 1..n).

    With `anvil_state` (a file path), `chain.anvil.restart()` brings the same chain back on the
    same port, as a restarted RPC node would."""
    with AnvilProcess(accounts=12, state_path=anvil_state) as anvil:
        accounts = anvil.accounts()
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        deployment = deploy_oracle(w3, accounts[0], config, records_dir=None)
        chain = OracleChain(
            anvil, deployment, accounts[0], accounts[1 : 1 + operators], accounts[11]
        )
        owner = chain.client(chain.owner)
        for name in models:
            chain.models[name] = register_model(owner, name).model_id
        for index, account in enumerate(chain.operators):
            chain.client(account).transact(
                "register",
                f"http://operator-{index}.invalid",
                list(chain.models.values()),
                value=stake_wei,
            )
        yield chain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    """One `genoracle node run` process (or, for a test's cheater, `python -m
    oracle.dev.dishonest`) with its own config, data dir and log file."""

    def __init__(
        self,
        chain: OracleChain,
        account: LocalAccount,
        workdir: Path,
        *,
        models: tuple[str, ...],
        conduct: str = "honest",
        rpc_url: str | None = None,
        extra_node: dict[str, Any] | None = None,
        extra_chain: dict[str, Any] | None = None,
        extra_api: dict[str, Any] | None = None,
        records_dir: Path | None = None,
    ) -> None:
        """`records_dir`: find the oracle through the deployment record there (as an operator's
        node does) instead of naming its address in the config."""
        self.chain = chain
        self.account = account
        self.conduct = conduct  # 'honest', or a test's cheat (oracle/dev/dishonest.py)
        # Absolute: the config resolves relative paths against its own folder, so a relative
        # workdir written as such would nest the data dir inside itself.
        workdir = workdir.resolve()
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "node.log"
        self.config_path = workdir / "node.toml"
        self.api_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        node: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "models": list(models),
            "recheck_interval_s": 5.0,
            "inference_threads": 1,
        }
        node.update(extra_node or {})
        chain_table: dict[str, Any] = {
            "rpc_url": rpc_url or chain.rpc_url,
            "poll_interval_s": 0.1,
            "retry_backoff_s": 0.05,
            "max_retries": 1,
            "rpc_timeout_s": 2.0,
        }
        if records_dir is None:
            chain_table["oracle_address"] = chain.deployment.oracle
        else:
            chain_table["deployments_dir"] = str(records_dir.resolve())
        chain_table.update(extra_chain or {})
        self.config_path.write_text(
            _toml(
                {
                    "chain": chain_table,
                    "account": {"private_key_env": "NODE_PRIVATE_KEY"},
                    "node": node,
                    "api": {
                        "host": "127.0.0.1",
                        "port": self.api_port,
                        "token_env": "NODE_API_TOKEN",
                        **(extra_api or {}),
                    },
                }
            )
        )

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def alive(self) -> bool:
        """The node process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> NodeProcess:
        """Start the node process (again, after a kill or a stop: same config and data dir).

        Peers fetch this node's openings from its registered endpoint (the aggregated reveal),
        so the first start registers it; the port stays the same, so a restart (as a supervisor
        would do it) sends no transaction and needs no RPC."""
        if self.process is None:
            self.chain.client(self.account).transact("setEndpoint", self.api_url)
        env = dict(
            os.environ,
            NODE_PRIVATE_KEY=self.account.key.hex(),
            NODE_API_TOKEN=API_TOKEN,
            PYTHONUNBUFFERED="1",
        )
        log = self.log_path.open("ab")
        command = [GENORACLE, "node", "run"]
        if self.conduct != "honest":  # a test's cheater: the same node, a dishonest conduct
            command = [sys.executable, "-m", "oracle.dev.dishonest", "--conduct", self.conduct]
        self.process = subprocess.Popen(
            [*command, "--config", str(self.config_path), "--log-level", "info"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the API answers /health (the node has loaded its models and is polling)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code in (200, 503):
                    return
            time.sleep(0.1)
        raise TimeoutError(f"node not ready after {timeout} s:\n{self.log()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers."""
        stop_nodes([self])

    def inference_worker_pid(self) -> int | None:
        """The pid of the node's inference worker: its spawned child (not multiprocessing's
        resource tracker), alive; None while the node is down or its worker is being replaced.
        Linux only (reads /proc)."""
        if not self.alive:
            return None
        assert self.process is not None
        for child in _child_pids(self.process.pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # gone meanwhile
            if b"spawn_main" in cmdline and state not in ("Z", "X"):
                return child
        return None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20_000:]
        except OSError:
            return ""

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.api_url}{path}", headers=headers, timeout=30)

    def local_task(self, task_id: int) -> dict[str, Any] | None:
        response = self.get(f"/tasks/{task_id}")
        if response.status_code != 200:
            return None
        node: dict[str, Any] | None = response.json().get("node")
        return node


def stop_nodes(nodes: Iterable[NodeProcess], grace_s: float = 15.0) -> None:
    """Stop node processes: SIGTERM to every running one first, so their graceful shutdowns
    (worker, queue, store) overlap instead of queueing, then wait for each; SIGKILL what is
    still running after ``grace_s``."""
    running = [
        node.process for node in nodes if node.process is not None and node.process.poll() is None
    ]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _child_pids(pid: int) -> list[int]:
    """The children of process `pid`, from /proc (every thread's list: a child belongs to the
    thread that started it)."""
    children: list[int] = []
    for thread in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (thread / "children").read_text().split()]
        except OSError:
            continue
    return children


def _toml(data: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
