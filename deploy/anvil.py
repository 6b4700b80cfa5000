"""Run a local Anvil chain as a child process: 127.0.0.1, a free port read from its log, clean stop,
and (with a state file) a restart on the same port that keeps the chain.

The binary comes from the npm package @foundry-rs/anvil-linux-amd64 (node_modules/.bin/anvil is a
direct link to it), or from $GENORACLE_ANVIL. Nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from deploy.artifacts import PROJECT_ROOT
from deploy.errors import AnvilError

#: The mnemonic Anvil derives its funded default accounts from (public; local chains only).
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_CHAIN_ID = 31337
_LISTENING = re.compile(r"Listening on (?P<host>[\d.]+):(?P<port>\d+)")
_LOG_LINES = 2000


def find_anvil() -> Path:
    """The anvil binary: $GENORACLE_ANVIL, then node_modules/.bin/anvil, then PATH."""
    override = os.environ.get("GENORACLE_ANVIL")
    if override:
        path = Path(override)
        if not path.is_file():
            raise AnvilError(f"GENORACLE_ANVIL={override} is not a file")
        return path
    local = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return local.resolve()
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilError(
        f"anvil not found: run `make node` (npm ci) to install it under {local.parent}, "
        "or set GENORACLE_ANVIL to an anvil binary"
    )


def anvil_accounts(count: int = 10, mnemonic: str = ANVIL_MNEMONIC) -> list[LocalAccount]:
    """The first `count` accounts Anvil funds at start (derivation m/44'/60'/0'/0/i)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    ]


class AnvilProcess:
    """An Anvil node bound to 127.0.0.1 on a free port; use as a context manager.

    `block_time=None` mines one block per transaction (automine). The node's output is kept (the
    last 2000 lines) and shown in the error when it fails to start or dies.

    With `state_path`, Anvil loads the chain from that file at start (if it exists) and dumps it
    there when stopped gracefully, so `stop()` then `start()` (or `restart()`) brings the same
    chain back on the same port: blocks, receipts, logs, balances and nonces are kept; the mempool
    is not (as on a real node restart, pending transactions are gone). Anvil does not keep its
    clock offset (`evm_increaseTime`) in the state, so the restart restores it: the chain's clock
    never runs backwards and keeps counting while the node was down.
    """

    def __init__(
        self,
        chain_id: int = ANVIL_CHAIN_ID,
        block_time: float | None = None,
        *,
        port: int = 0,
        accounts: int = 10,
        balance_ether: int = 10_000,
        mnemonic: str = ANVIL_MNEMONIC,
        gas_limit: int | None = None,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
        startup_timeout: float = 15.0,
        state_path: Path | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.block_time = block_time
        self.mnemonic = mnemonic
        self._requested_port = port
        self._accounts = accounts
        self._balance_ether = balance_ether
        self._gas_limit = gas_limit
        self._extra_args = extra_args
        self._binary = binary
        self._startup_timeout = startup_timeout
        self.state_path = state_path
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: deque[str] = deque(maxlen=_LOG_LINES)
        self._port: int | None = None
        self._ready = threading.Event()
        self._restarting = False
        self._clock_offset: float | None = None  # chain time minus wall time, read at stop()
        self._state_saved = False  # the last stop was graceful: the state file holds the chain

    # -- lifecycle --------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line this instance runs."""
        binary = self._binary or find_anvil()
        args = [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self._requested_port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self._accounts),
            "--balance",
            str(self._balance_ether),
            "--mnemonic",
            self.mnemonic,
        ]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        if self._gas_limit is not None:
            args += ["--gas-limit", str(self._gas_limit)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
            if self._restarting and self.block_time is None:
                # Automine would mine a transaction that arrives before the clock is restored
                # with a timestamp in the past; mining is switched on once it is.
                args.append("--no-mining")
        return args + list(self._extra_args)

    def start(self) -> AnvilProcess:
        """Start Anvil and wait until it listens; raises AnvilError with its log otherwise.

        After `stop()`, an instance with a `state_path` starts again on the port it had, from the
        state it dumped; one without refuses (its chain is gone).
        """
        if self.running:
            raise AnvilError("this AnvilProcess is already running")
        if self._process is not None:
            self._prepare_restart()
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._drain, name="anvil-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._ready.wait(timeout=0.01):
            if self._process.poll() is not None:
                self._reader.join(timeout=1)
                raise AnvilError(
                    f"anvil exited with code {self._process.returncode} before listening\n"
                    + self.log
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AnvilError(
                    f"anvil did not listen within {self._startup_timeout:.0f} s\n" + self.log
                )
        if self._restarting:
            self._resume_after_restart()
        return self

    def restart(self, downtime_s: float = 0.0) -> AnvilProcess:
        """Stop gracefully (the state is dumped), stay down `downtime_s`, start again on the same
        port with the state loaded. Needs `state_path`."""
        if self.state_path is None:
            raise AnvilError("restart() needs a state_path: without one the chain is lost on stop")
        self.stop()
        time.sleep(downtime_s)
        return self.start()

    def _prepare_restart(self) -> None:
        if self.state_path is None:
            raise AnvilError(
                "this AnvilProcess was stopped and has no state_path: its chain is gone; "
                "pass state_path=... to restart it with its state"
            )
        if not self._state_saved or not self.state_path.is_file():
            raise AnvilError(
                f"anvil did not dump its state to {self.state_path} (it died or was killed "
                "rather than stopped): cannot restart its chain\n" + self.log
            )
        port = self._port
        assert port is not None  # it listened before stopping
        self._requested_port = port
        self._port = None
        self._ready.clear()
        self._restarting = True

    def _resume_after_restart(self) -> None:
        """Give the restarted chain back its clock, then its mining mode."""
        offset = self._clock_offset
        if offset is not None and offset > 0:
            self.rpc("evm_increaseTime", [math.ceil(offset)])
        if self.block_time is None:
            # Switching automine on also mines whatever arrived while mining was off.
            self.rpc("evm_setAutomine", [True])
        self._restarting = False

    def rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call to this node (for its own housekeeping and for tests)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        request = urllib.request.Request(
            self.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise AnvilError(f"anvil {method}: {reply['error']}")
        return reply.get("result")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Anvil: SIGTERM (it dumps its state, if it has a state_path), then SIGKILL after
        `timeout` seconds. Safe to call twice."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self.state_path is not None and self._ready.is_set():
            self._clock_offset = self._read_clock_offset()
        process.terminate()
        try:
            process.wait(timeout=timeout)
            self._state_saved = process.returncode == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=1)

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise AnvilError("anvil is not running (call start() or use it as a context manager)")
        return self._port

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        """Anvil's recent output."""
        return "".join(self._lines)

    def accounts(self) -> list[LocalAccount]:
        """The funded accounts of this node, as local signers."""
        return anvil_accounts(self._accounts, self.mnemonic)

    def check_alive(self) -> None:
        """Raise AnvilError with the log if the node has died."""
        if self._process is not None and self._process.poll() is not None:
            raise AnvilError(f"anvil died with code {self._process.returncode}\n" + self.log)

    def _read_clock_offset(self) -> float | None:
        """How far the chain's clock is ahead of the wall clock (as far as the head block shows)."""
        try:
            head = self.rpc("eth_getBlockByNumber", ["latest", False])
        except (OSError, ValueError, AnvilError):
            return self._clock_offset  # not answering: keep what we knew
        return float(int(head["timestamp"], 16)) - time.time()

    def _drain(self) -> None:
        """Read Anvil's output until it exits, so its pipe never fills up and blocks it."""
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.append(line)
            if self._port is None:
                match = _LISTENING.search(line)
                if match:
                    self._port = int(match.group("port"))
                    self._ready.set()
