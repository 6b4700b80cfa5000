"""The newcomer's path, as the README writes it, with real processes on a real Anvil:
`genoracle chain up` -> `genoracle models register` -> `genoracle operator register` x3 ->
`genoracle node run` x3 -> `genoracle gateway new-key` + `genoracle gateway run` -> a task over
HTTP (curl's requests, made with httpx) -> wait -> `genoracle task fetch` -> `genoracle verify`
MATCH, for an image and a text.

The commands are the README's, run by bash in an empty folder with `.venv/bin` first on the
PATH. Only the ports differ (free ones instead of 8545, 870x and 8800, so the test runs beside
anything else: `--port` for `chain up`, `GENORACLE_CHAIN_RPC_URL` and `GENORACLE_GATEWAY_PORT`
as the README's configuration reference allows) and the deployment records go to a temporary
folder (`GENORACLE_DEPLOYMENTS_DIR`). The wall time is printed (README, "By hand").
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oracle.dev.localnet import free_port

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

# About 5 min on 2 busy cores (every `genoracle` command imports torch): `make test-slow`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Shell:
    """Runs the README's commands with bash in one folder; keeps every background process."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.background: list[tuple[subprocess.Popen[bytes], Path]] = []

    def run(self, script: str, timeout: float = 300, extra: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.folder,
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        print(f"$ {script}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"{script!r} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def start(self, command: str, log: str, extra: dict[str, str] | None = None) -> None:
        path = self.folder / log
        with path.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.folder,
                env={**self.env, **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append((process, path))

    def stop_all(self) -> None:
        for process, _ in reversed(self.background):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for process, path in reversed(self.background):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            tail = path.read_text(errors="replace")[-3000:]
            print(f"--- {path.name} (exit {process.returncode}) ---\n{tail}")


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GENORACLE_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "PYTHONPATH": str(ROOT),
    }
    folder = tmp_path / "work"
    folder.mkdir()
    runner = Shell(folder, env)
    yield runner
    runner.stop_all()


def _wait_until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_readme_path_from_chain_up_to_verify(shell: Shell) -> None:
    started = time.monotonic()
    steps: list[tuple[str, float]] = []

    def step(name: str) -> None:
        steps.append((name, time.monotonic() - started))

    rpc_port, gateway_port = free_port(), free_port()
    api_ports = [free_port() for _ in OPERATOR_KEYS]
    rpc_url = f"http://127.0.0.1:{rpc_port}"
    shell.env["GENORACLE_CHAIN_RPC_URL"] = rpc_url

    # One terminal: `genoracle chain up` (Anvil, the oracle deployed, the built-ins registered).
    shell.start(f"genoracle chain up --port {rpc_port}", "chain.log")
    chain_log = shell.folder / "chain.log"
    _wait_until("chain up to print 'ready'", lambda: "ready" in chain_log.read_text(), 120)

    step("chain up")
    # The registry owner registers models (already registered by chain up: it says so).
    shell.run(
        "genoracle models register tiny-sd && genoracle models register tiny-llama",
        extra={"GENORACLE_PRIVATE_KEY": DEPLOYER_KEY},
    )

    step("models register")
    # Three operators, as the README's loop does it (its ports replaced by free ones).
    shell.run(f"cp {ROOT}/oracle/node.example.toml .")
    for i, (key, port) in enumerate(zip(OPERATOR_KEYS, api_ports, strict=True), start=1):
        shell.run(
            f'sed -e "s/^port = 8700/port = {port}/" '
            f'-e "s|^data_dir = \\".genoracle/node\\"|data_dir = \\"node-{i}\\"|" '
            f"node.example.toml > node-{i}.toml\n"
            f"genoracle operator register --config node-{i}.toml --stake 2 "
            f"--endpoint http://127.0.0.1:{port} --model tiny-sd --model tiny-llama",
            extra={"GENORACLE_PRIVATE_KEY": key},
        )
        shell.start(
            f"genoracle node run --config node-{i}.toml",
            f"node-{i}.log",
            extra={"GENORACLE_PRIVATE_KEY": key},
        )
    for port in api_ports:
        _wait_until(
            f"the node on port {port} to be healthy",
            lambda port=port: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200,
            180,
        )

    step("operators registered, nodes healthy")
    # The gateway: a key for alice, its table pasted into a copy of the example config.
    printed = shell.run("genoracle gateway new-key alice")
    api_key = re.search(r"^  (\S+)$", printed, re.MULTILINE)
    assert api_key is not None, printed
    table = printed[printed.index("[gateway.keys.alice]") :]
    shell.run(f"cp {ROOT}/oracle/gateway.example.toml gateway.toml")
    (shell.folder / "gateway.toml").write_text(
        (shell.folder / "gateway.toml").read_text() + "\n" + table
    )
    shell.start(
        "genoracle gateway run --config gateway.toml",
        "gateway.log",
        extra={
            "GENORACLE_GATEWAY_PRIVATE_KEY": PAYER_KEY,
            "GENORACLE_GATEWAY_PORT": str(gateway_port),
        },
    )
    gateway = f"http://127.0.0.1:{gateway_port}"
    _wait_until(
        "the gateway to be healthy",
        lambda: httpx.get(f"{gateway}/health").status_code == 200,
        120,
    )

    step("gateway healthy")
    # A client with only HTTP: an image and a text.
    headers = {"X-API-Key": api_key.group(1)}
    requests = {
        "image": {"model": "tiny-sd", "input": {"prompt": "a red fox", "width": 64, "height": 64}},
        "text": {
            "model": "tiny-llama",
            "input": {"prompt": "The verifier said", "max_new_tokens": 8},
        },
    }
    task_ids = {}
    for kind, body in requests.items():
        answer = httpx.post(f"{gateway}/v1/tasks", json=body, headers=headers, timeout=60)
        assert answer.status_code == 201, answer.text
        task_ids[kind] = answer.json()["task_id"]
    for kind, task_id in task_ids.items():
        _wait_until(
            f"{kind} task {task_id} to resolve",
            lambda task_id=task_id: (
                httpx.get(f"{gateway}/v1/tasks/{task_id}", headers=headers, timeout=30).json()[
                    "status"
                ]
                == "resolved"
            ),
            240,
        )

    step("both tasks resolved")
    # Fetch from a member, checked against the chain; verify: MATCH.
    image, text = task_ids["image"], task_ids["text"]
    shell.run(f"genoracle task fetch {image} --out fox.png")
    assert "MATCH" in shell.run(f"genoracle verify --task {image} fox.png")
    shell.run(f"genoracle task fetch {text} --out answer.txt --model tiny-llama")
    assert "MATCH" in shell.run(f"genoracle verify --task {text} answer.txt")

    step("fetched and verified")
    for name, at in steps:
        print(f"  {at:6.1f} s  {name}")
    print(f"newcomer path: {time.monotonic() - started:.1f} s wall time")
