"""What the README walks share: Anvil's public test keys, a bash that runs the README's commands
in one folder and stops whatever they started, and a polling wait."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: Anvil's public test keys (README, "By hand on a local chain"): the deployer (registry owner),
#: three operators and the account that pays (here: the gateway's).
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OPERATOR_KEYS = (
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)
PAYER_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"


class Shell:
    """Runs the README's commands with bash in one folder. Every command runs in its own
    process group, so what it leaves running (`cmd &`) is stopped with it at the end."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.groups: list[int] = []  # process groups, each led by one bash
        self.logs: list[Path] = []

    def run(
        self,
        script: str,
        timeout: float = 300,
        extra: dict[str, str] | None = None,
        expect_rc: int = 0,
    ) -> str:
        """Run `script` (bash -euo pipefail) to its end; its output, once it exited `expect_rc`.
        Processes it started in the background keep running until `stop_all`."""
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.folder,
            env={**self.env, **(extra or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.groups.append(process.pid)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            print(f"$ {script}\n{stdout}{stderr}")
            raise AssertionError(f"{script!r} did not finish within {timeout:.0f} s") from None
        print(f"$ {script}\n{stdout}{stderr}")
        assert process.returncode == expect_rc, (
            f"{script!r} exited {process.returncode} (expected {expect_rc}): {stderr}"
        )
        return stdout

    def start(self, command: str, log: str, extra: dict[str, str] | None = None) -> None:
        """Start `command` in the background, its output in the file `log`."""
        path = self.folder / log
        with path.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.folder,
                env={**self.env, **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.groups.append(process.pid)
        self.logs.append(path)

    def stop_all(self) -> None:
        """SIGINT to every group still there (as Ctrl-C would), SIGKILL after 20 s; print the
        tail of every log file in the folder."""
        for group in reversed(self.groups):
            _signal_group(group, signal.SIGINT)
        deadline = time.monotonic() + 20
        while any(_group_alive(group) for group in self.groups):
            if time.monotonic() > deadline:
                for group in self.groups:
                    _signal_group(group, signal.SIGKILL)
                break
            time.sleep(0.2)
        for path in sorted({*self.logs, *self.folder.glob("*.log")}):
            tail = path.read_text(errors="replace")[-3000:]
            print(f"--- {path.name} ---\n{tail}")


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # reap our own exited leader (a zombie counts)
        os.waitpid(group, os.WNOHANG)
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll `check` every 0.5 s (an HTTP error counts as not yet) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
