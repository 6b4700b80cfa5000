"""Run a local Anvil chain as a child process: 127.0.0.1, a free port read from its log, clean stop.

The binary comes from the npm package @foundry-rs/anvil-linux-amd64 (node_modules/.bin/anvil is a
direct link to it), or from $GENORACLE_ANVIL. Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType

from eth_account import Account
from eth_account.signers.local import LocalAccount

from deploy.artifacts import PROJECT_ROOT

#: The mnemonic Anvil derives its funded default accounts from (public; local chains only).
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_CHAIN_ID = 31337
_LISTENING = re.compile(r"Listening on (?P<host>[\d.]+):(?P<port>\d+)")
_LOG_LINES = 2000


class AnvilError(RuntimeError):
    """Anvil could not be found, did not start, or died; the message includes its log."""


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
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: deque[str] = deque(maxlen=_LOG_LINES)
        self._port: int | None = None
        self._ready = threading.Event()

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
        return args + list(self._extra_args)

    def start(self) -> AnvilProcess:
        """Start Anvil and wait until it listens; raises AnvilError with its log otherwise."""
        if self._process is not None:
            raise AnvilError("this AnvilProcess was already started")
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
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Anvil: SIGTERM, then SIGKILL after `timeout` seconds. Safe to call twice."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
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
