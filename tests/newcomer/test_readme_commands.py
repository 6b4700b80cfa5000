"""Every command the README shows, walked or skipped for a stated reason.

The README's command blocks are fenced ```bash (every line a command; `\\` continues a line,
`#` starts a comment) or ```console (the lines after `$ `); every other block names its
language (text, json, python, solidity), so a command cannot hide in an untagged block.

`test_every_readme_command_is_walked_or_skipped` (default suite, instant) fails when a README
command is in no block the walk runs and not in SKIPPED, or when SKIPPED names a command the
README no longer shows. `test_the_readme_walk` (slow, e2e: `make test-slow`) runs the walked
blocks as written, with real processes on a real Anvil, in the newcomer test's empty folder with
`.venv/bin` first on the PATH. What it changes is listed with each block: free ports for the
README's 8545/870x/8800, the task ids the walk's own tasks got for the README's 7 and 8, the
checkout's path for `path/to/genoracle`, and the placeholders (`0x...`, `https://rpc.example`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from newcomer_lib import DEPLOYER_KEY, PAYER_KEY, ROOT, Shell, wait_until

from oracle.dev.localnet import free_port

README = ROOT / "README.md"
SHELL_LANGUAGES = ("bash", "sh", "shell")
#: Anvil's public test account 5: the operator of the "real network" block's deployment.
OPERATOR_5_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"

#: The README's command blocks the walk runs, each named by its first command.
WALKED_BLOCKS = {
    "chain up": "genoracle chain up",
    "by hand": "cp path/to/genoracle/oracle/node.example.toml .",
    "cli": (
        'genoracle task submit --model tiny-sd --prompt "a red fox" --width 64 --height 64 --wait'
    ),
    "gateway": "genoracle gateway new-key alice",
    "gateway curl": 'curl -s -X POST http://127.0.0.1:8800/v1/tasks -H "X-API-Key: $KEY" -H '
    '\'Content-Type: application/json\' -d \'{"model": "tiny-sd", "input": {"prompt": '
    '"a red fox", "width": 64, "height": 64}}\'',
    "real network": "genoracle deploy --rpc-url https://rpc.example --with-example-consumer",
}

#: README commands the walk does not run, and why.
SKIPPED = {
    "make demo": "the demo itself: tests/demo/test_demo.py runs it (make test)",
    'genoracle task submit --model tiny-sd --mode audited --auditors 2 --prompt "a red fox" '
    "--width 64 --height 64 --wait": (
        "needs three node processes serving tiny-sd: "
        "tests/node/test_audited_e2e.py runs `task submit --mode audited --auditors 2 --wait` "
        "against real nodes (make test-slow), and the demo requests audited tasks (make test)"
    ),
    "genoracle task submit --model smollm2-135m --mode audited --auditors 2 --input "
    '\'{"messages":[{"role":"user","content":"Explain a lighthouse."}],"max_new_tokens":32}\' '
    "--wait": (
        "needs three node processes serving SmolLM2: tests/node/test_audited_text_e2e.py runs "
        "the same command on tiny-llama nodes (make test-slow)"
    ),
    "genoracle task train --model digits --data my-digits/ --rounds 3 --steps 10 --wait": (
        "needs a committee of node processes serving digits: tests/node/test_training_e2e.py "
        "runs `task train ... --wait` against real nodes (make test-slow), and the demo's "
        "training act trains through the SDK (make test)"
    ),
    "make test": "the default suite itself, this file included",
    "genoracle verify --task 1 demo-output/task-1-image.png": (
        "printed by `make demo`, which runs it: tests/demo/test_demo.py"
    ),
    "npm install @genoracle/contracts": (
        "needs the npm registry (offline here): tests/contracts/test_foundry_and_npm_package.py "
        "packs the package and compiles the README's contract against it"
    ),
    "node_modules/.bin/forge build": (
        "run by tests/contracts/test_foundry_and_npm_package.py in the default suite"
    ),
    "node_modules/.bin/forge test": (
        "run by tests/contracts/test_foundry_and_npm_package.py in the default suite"
    ),
    "docker compose up --build": (
        "needs a Docker daemon and the internet: tests/test_docker.py checks the files and "
        "builds the image where a daemon runs"
    ),
    "curl -s http://127.0.0.1:8700/health": (
        "the compose node's health (needs the compose stack above); the walk curls the nodes' "
        "/health it starts itself"
    ),
}


@dataclass
class Block:
    language: str
    body: str
    line: int  # of the opening fence in README.md
    commands: list[str] = field(default_factory=list)


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of the README, with the commands of the shell and console ones."""
    blocks = []
    for match in re.finditer(r"^```(\S*)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL):
        language, body = match.group(1), match.group(2)
        block = Block(language, body, text.count("\n", 0, match.start()) + 1)
        if language in SHELL_LANGUAGES:
            block.commands = _shell_commands(body)
        elif language == "console":
            block.commands = [
                " ".join(line[2:].split()) for line in body.splitlines() if line.startswith("$ ")
            ]
        blocks.append(block)
    return blocks


def _shell_commands(body: str) -> list[str]:
    """Logical lines (continuations joined), comments dropped, blanks between words squeezed."""
    commands = []
    for line in re.sub(r"\\\n", " ", body).splitlines():
        command = re.sub(r"(^|\s)#(\s.*)?$", "", line)
        if command.strip():
            commands.append(" ".join(command.split()))
    return commands


def _walked_commands(blocks: list[Block]) -> dict[str, list[str]]:
    by_first = {block.commands[0]: block for block in blocks if block.commands}
    missing = {name: first for name, first in WALKED_BLOCKS.items() if first not in by_first}
    assert not missing, f"WALKED_BLOCKS names blocks the README no longer starts so: {missing}"
    return {name: by_first[first].commands for name, first in WALKED_BLOCKS.items()}


def test_every_readme_command_is_walked_or_skipped() -> None:
    blocks = readme_blocks(README.read_text())
    untagged = [block.line for block in blocks if not block.language]
    assert not untagged, (
        f"README.md: the fenced blocks at lines {untagged} name no language; tag commands "
        f"```bash (or ```console for a transcript) and anything else ```text"
    )
    shown = [command for block in blocks for command in block.commands]
    walked = {command for commands in _walked_commands(blocks).values() for command in commands}
    neither = [command for command in shown if command not in walked and command not in SKIPPED]
    assert not neither, (
        f"README commands that tests/newcomer/test_readme_commands.py neither walks nor skips "
        f"(walk their block, or add them to SKIPPED with the reason): {neither}"
    )
    stale = sorted(set(SKIPPED) - set(shown))
    assert not stale, f"SKIPPED names commands the README does not show: {stale}"
    both = sorted(walked & set(SKIPPED))
    assert not both, f"walked and skipped at once: {both}"


class Walk:
    """Runs README blocks through a Shell and notes every README command it ran."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.blocks = _walked_commands(readme_blocks(README.read_text()))
        self.raw = {
            name: next(
                block.body
                for block in readme_blocks(README.read_text())
                if block.commands and block.commands[0] == WALKED_BLOCKS[name]
            )
            for name in WALKED_BLOCKS
        }
        self.ran: set[str] = set()

    def whole(self, name: str, replace: dict[str, str], **kwargs: object) -> str:
        """Run block `name` as one bash script, after the literal replacements `replace`."""
        script = _replaced(self.raw[name], replace)
        out = self.shell.run(script, **kwargs)  # type: ignore[arg-type]
        self.ran.update(self.blocks[name])
        return out

    def one(self, name: str, command: str, replace: dict[str, str], **kwargs: object) -> str:
        assert command in self.blocks[name], f"{command!r} is not in the README's {name} block"
        out = self.shell.run(_replaced(command, replace), **kwargs)  # type: ignore[arg-type]
        self.ran.add(command)
        return out


def _replaced(text: str, replace: dict[str, str]) -> str:
    for old, new in replace.items():
        assert old in text, f"{old!r} is not in {text!r}: the README changed, update the walk"
        text = text.replace(old, new)
    return text


@pytest.mark.e2e
@pytest.mark.slow
def test_the_readme_walk(shell: Shell, tmp_path: Path) -> None:
    started = time.monotonic()
    walk = Walk(shell)
    rpc_port, gateway_port, real_api_port = free_port(), free_port(), free_port()
    api_ports = [free_port() for _ in range(3)]
    rpc_url = f"http://127.0.0.1:{rpc_port}"
    shell.env["GENORACLE_CHAIN_RPC_URL"] = rpc_url

    # "By hand", terminal one: `genoracle chain up` (8545 -> a free port).
    (chain_up,) = walk.blocks["chain up"]
    shell.start(f"{chain_up} --port {rpc_port}", "chain.log")
    walk.ran.add(chain_up)
    chain_log = shell.folder / "chain.log"
    wait_until("chain up to print 'ready'", lambda: "ready" in chain_log.read_text(), 120)

    # Terminal two: the whole block as one script (the loop, its nodes in the background, an
    # image task submitted with --wait, its artifact curled from node 1, verified; a text task).
    ports = " ".join(str(port) for port in api_ports)
    by_hand = walk.whole(
        "by hand",
        {
            "path/to/genoracle": str(ROOT),
            "port = 870$i/": "port = ${API_PORT[$i]}/",
            "http://127.0.0.1:870$i": "http://127.0.0.1:${API_PORT[$i]}",
            "http://127.0.0.1:8701/": "http://127.0.0.1:${API_PORT[1]}/",
            "cp ": f"API_PORT=(none {ports})\ncp ",
        },
        timeout=900,
    )
    assert "MATCH" in by_hand and "outside tolerance" not in by_hand, by_hand
    assert re.search(r"task 1 submitted", by_hand) and re.search(r"task 2 submitted", by_hand)
    image_task, text_task = 1, 2

    # "From the CLI": the README's task 7 and 8 are the walk's image and text tasks; the
    # registry owner registers tiny-sd and ./my-model (a copy of tiny-sd under another name,
    # so that it is a new model).
    my_model = shell.folder / "my-model"
    shell.run(f"cp -r {ROOT}/.genoracle/models/tiny-sd {my_model}")
    manifest = json.loads((my_model / "manifest.json").read_text())
    (my_model / "manifest.json").write_text(json.dumps({**manifest, "name": "my-model"}))
    cli = {"7": str(image_task), "8": str(text_task)}
    payer = {"GENORACLE_PRIVATE_KEY": PAYER_KEY}
    outputs = {}
    for command in walk.blocks["cli"]:
        extra = {"GENORACLE_PRIVATE_KEY": DEPLOYER_KEY} if "models register" in command else payer
        ids = {old: new for old, new in cli.items() if re.search(rf"\b{old}\b", command)}
        outputs[command] = walk.one(
            "cli", command, {f" {old}": f" {new}" for old, new in ids.items()}, extra=extra
        )
    printed = "\n".join(outputs.values())
    assert printed.count("MATCH") >= 2 and "outside tolerance" not in printed, printed
    assert json.loads((shell.folder / "answer.json").read_text())["task_id"] == text_task
    assert "my-model" in printed, printed

    # "Over HTTP, through a gateway": a key for alice, its table pasted into the example
    # config, the gateway run (8800 -> a free port) paying from Anvil's account 4.
    first, copy, run = walk.blocks["gateway"]
    new_key = walk.one("gateway", first, {})
    key = re.search(r"^  (\S+)$", new_key, re.MULTILINE)
    assert key is not None, new_key
    walk.one(
        "gateway", copy, {"oracle/gateway.example.toml": f"{ROOT}/oracle/gateway.example.toml"}
    )
    config = shell.folder / "gateway.toml"
    config.write_text(config.read_text() + "\n" + new_key[new_key.index("[gateway.keys.alice]") :])
    shell.start(
        _replaced(run, {"0x...": PAYER_KEY}),
        "gateway.log",
        extra={"GENORACLE_GATEWAY_PORT": str(gateway_port)},
    )
    walk.ran.add(run)
    gateway = f"http://127.0.0.1:{gateway_port}"
    wait_until("the gateway to be healthy", lambda: httpx.get(f"{gateway}/health").is_success, 120)

    # A client with only curl: POST (its task id replaces the README's 7), GET, the artifact.
    post, get, artifact = walk.blocks["gateway curl"]
    http = {"8800": str(gateway_port)}
    env = {"KEY": key.group(1)}
    answer = json.loads(walk.one("gateway curl", post, http, extra=env))
    task = answer["task_id"]
    assert answer["tx_hash"].startswith("0x"), answer
    http_task = {**http, "/v1/tasks/7": f"/v1/tasks/{task}"}
    assert json.loads(walk.one("gateway curl", get, http_task, extra=env))["task_id"] == task
    wait_until(
        f"gateway task {task} to resolve",
        lambda: json.loads(shell.run(_replaced(get, http_task), extra=env))["status"] == "resolved",
        240,
    )
    walk.one("gateway curl", artifact, http_task, extra=env)
    assert (shell.folder / "fox.png").read_bytes().startswith(b"\x89PNG")

    # "Running a node against a real network", against this Anvil (https://rpc.example -> it)
    # with its own records folder, so that the deployment above stays the one the walk's
    # nodes read. Operator: Anvil's account 5; node.toml is the example config, its port and
    # data folder set by GENORACLE_API_PORT and GENORACLE_NODE_DATA_DIR.
    shell.env["GENORACLE_DEPLOYMENTS_DIR"] = str(tmp_path / "real-network-deployments")
    shell.run(f"cp {ROOT}/oracle/node.example.toml node.toml")
    real = {"https://rpc.example": rpc_url}
    deployer = {"GENORACLE_PRIVATE_KEY": DEPLOYER_KEY}
    operator = {
        "GENORACLE_PRIVATE_KEY": OPERATOR_5_KEY,
        "GENORACLE_API_PORT": str(real_api_port),
        "GENORACLE_NODE_DATA_DIR": "node-5",
    }
    deploy, register_model, register_operator, node_run, *operator_commands = walk.blocks[
        "real network"
    ]
    assert "consumer" in walk.one("real network", deploy, real, extra=deployer)
    walk.one("real network", register_model, real, extra=deployer)
    walk.one("real network", register_operator, {}, extra=operator)
    shell.start(node_run, "node-5.log", extra=operator)
    walk.ran.add(node_run)
    wait_until(
        "the real network's node to be healthy",
        lambda: httpx.get(f"http://127.0.0.1:{real_api_port}/health").is_success,
        180,
    )
    for command in operator_commands:
        if " withdraw " in f"{command} ":
            _advance_time(rpc_url, 400 * 24 * 3600)  # past any unbonding delay
        if " claim " in f"{command} ":  # nothing earned on this deployment: a one-line refusal
            refused = walk.one("real network", command, {}, extra=operator, expect_rc=1)
            assert refused == "", refused
            continue
        walk.one("real network", command, {}, extra=operator)

    expected = {command for commands in walk.blocks.values() for command in commands}
    assert walk.ran == expected, f"walked blocks' commands not run: {sorted(expected - walk.ran)}"
    print(f"README walk: {time.monotonic() - started:.1f} s wall time")


def _advance_time(rpc_url: str, seconds: int) -> None:
    for method, params in (("evm_increaseTime", [seconds]), ("evm_mine", [])):
        answer = httpx.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        assert "error" not in answer, answer
