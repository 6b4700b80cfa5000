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

import re
import time

import httpx
import pytest
from newcomer_lib import DEPLOYER_KEY, OPERATOR_KEYS, PAYER_KEY, ROOT, Shell
from newcomer_lib import wait_until as _wait_until

from oracle.dev.localnet import free_port

# About 5 min on 2 busy cores (every `genoracle` command imports torch): `make test-slow`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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
