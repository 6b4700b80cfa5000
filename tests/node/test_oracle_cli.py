"""The `genoracle` commands of the oracle: operator lifecycle, task submit/show, config errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from oracle_testlib import IMAGE_MODEL, TEXT_MODEL

from oracle.chain.views import read_operator
from oracle.cli import main
from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain
from oracle.sdk.client import model_id_of


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def chain_args(net: OracleChain) -> list[str]:
    return ["--rpc-url", net.rpc_url, "--oracle", net.deployment.oracle]


@pytest.fixture(scope="module")
def bare_net() -> Iterator[OracleChain]:
    """A chain with the image model and no operators: the CLI registers one."""
    with oracle_chain((IMAGE_MODEL,), operators=0) as chain:
        yield chain


def test_operator_lifecycle(bare_net: OracleChain) -> None:
    account = bare_net.anvil.accounts()[5]
    env = {"GENORACLE_PRIVATE_KEY": account.key.hex()}
    args = chain_args(bare_net)

    registered = run(
        [
            "operator",
            "register",
            *args,
            "--stake",
            "1.5",
            "--endpoint",
            "https://op.example",
            "--model",
            IMAGE_MODEL,
        ],
        env,
    )
    assert registered.exit_code == 0, registered.output
    assert f"registered {account.address} with stake 1.500000 ETH" in registered.output

    again = run(
        ["operator", "register", *args, "--stake", "1", "--endpoint", "x", "--model", IMAGE_MODEL],
        env,
    )
    assert again.exit_code == 1
    assert f"AlreadyRegistered(operator={account.address})" in again.output

    status = run(["operator", "status", *args, "--json"], env)
    info = json.loads(status.output)
    assert (
        info["stake_wei"] == 15 * 10**17
        and info["active"]
        and info["endpoint"] == ("https://op.example")
        and info["models"] == ["0x" + model_id_of(IMAGE_MODEL).hex()]
        and info["credit_wei"] == 0
    )

    early = run(["operator", "withdraw", *args], env)
    assert early.exit_code == 1 and "NotExiting" in early.output

    paused = run(["operator", "pause", *args], env)
    assert paused.exit_code == 0 and "0 assigned task(s) still open" in paused.output
    status = run(["operator", "status", *args], env)
    assert "paused (not drawn)" in status.output
    twice = run(["operator", "pause", *args], env)
    assert twice.exit_code == 1 and "AssignmentsAlreadyPaused" in twice.output
    resumed = run(["operator", "resume", *args], env)
    assert (
        resumed.exit_code == 0
        and json.loads(run(["operator", "status", *args, "--json"], env).output)["active"]
    )

    exited = run(["operator", "exit", *args], env)
    assert exited.exit_code == 0 and "exit requested" in exited.output
    withdrawable_at = read_operator(bare_net.client(), account.address).withdrawable_at
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(withdrawable_at))
    assert exited.output.strip() == f"exit requested; stake withdrawable at {date}"
    waiting = run(["operator", "withdraw", *args], env)
    assert waiting.exit_code == 1
    # The revert reads as a date with what to do, not as epoch seconds.
    assert waiting.output.strip() == (
        f"Error: withdrawStake: contract reverted with UnbondingNotOver(operator="
        f"{account.address}, withdrawableAt={date}); the stake unbonds at {date}: withdraw "
        "after that"
    )

    bare_net.advance_time(601)
    withdrawn = run(["operator", "withdraw", *args], env)
    assert withdrawn.exit_code == 0 and "withdrew 1.500000 ETH" in withdrawn.output
    nothing = run(["operator", "claim", *args], env)
    assert nothing.exit_code == 1 and "NothingToClaim" in nothing.output


def test_cli_errors_are_one_clear_line(bare_net: OracleChain, tmp_path: Path) -> None:
    args = chain_args(bare_net)
    no_key = run(["operator", "status", *args], {"GENORACLE_PRIVATE_KEY": ""})
    assert no_key.exit_code == 1 and "no signing key" in no_key.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[chain]\nrpc_url = "localhost"\n')
    bad_config = run(["task", "show", "--config", str(bad), "1"])
    assert bad_config.exit_code == 1
    assert "chain.rpc_url = 'localhost': must be an http:// or https:// URL" in bad_config.output
    unknown = run(["task", "show", *args, "42"])
    assert unknown.exit_code == 1 and "task 42 does not exist" in unknown.output
    fee = run(
        ["task", "submit", *args, "--model", IMAGE_MODEL, "--prompt", "x", "--fee", "1wei"],
        {"GENORACLE_PRIVATE_KEY": bare_net.requester.key.hex()},
    )
    assert fee.exit_code == 1 and "FeeTooLow(sent=1, required=" in fee.output
    assert "send at least" in fee.output


def test_committee_sizes_are_checked_before_sending(bare_net: OracleChain) -> None:
    """An even or oversized committee is refused by the client with the sizes this oracle
    takes; 300 used to end in a web3 validation traceback (it does not fit a uint8)."""
    requester = bare_net.requester
    w3 = bare_net.client().w3
    nonce = w3.eth.get_transaction_count(requester.address)
    for size in ("4", "9", "300"):
        refused = run(
            [
                "task",
                "submit",
                *chain_args(bare_net),
                "--model",
                IMAGE_MODEL,
                "--prompt",
                "x",
                "--committee",
                size,
            ],
            {"GENORACLE_PRIVATE_KEY": requester.key.hex()},
        )
        assert refused.exit_code == 1
        assert refused.output.strip() == (
            f"Error: committee size {size}: a committee is odd, from 3 to 7 on this oracle; "
            "ask for one of 3, 5, 7"
        )
    assert w3.eth.get_transaction_count(requester.address) == nonce
    unreachable = run(
        [
            "task",
            "show",
            "--rpc-url",
            "http://127.0.0.1:9",
            "--oracle",
            bare_net.deployment.oracle,
            "1",
        ],
        {"GENORACLE_CHAIN_MAX_RETRIES": "1"},
    )
    assert unreachable.exit_code == 1 and "unreachable" in unreachable.output


def test_task_submit_wait_and_show(
    honest_net: OracleChain, honest_nodes: list[NodeProcess]
) -> None:
    env = {"GENORACLE_PRIVATE_KEY": honest_net.requester.key.hex()}
    args = chain_args(honest_net)
    submitted = run(
        [
            "task",
            "submit",
            *args,
            "--model",
            TEXT_MODEL,
            "--prompt",
            "Hello",
            "--max-new-tokens",
            "6",
            "--wait",
            "--timeout",
            "120",
            "--json",
        ],
        env,
    )
    assert submitted.exit_code == 0, submitted.output
    result = json.loads(submitted.output)
    assert result["status"] == "resolved" and result["support"] == 3
    shown = run(["task", "show", *args, str(result["task_id"])])
    assert shown.exit_code == 0
    assert f"task {result['task_id']}: resolved" in shown.output
    assert shown.output.count("agrees") == 3
    invalid = run(
        [
            "task",
            "submit",
            *args,
            "--model",
            IMAGE_MODEL,
            "--input",
            '{"prompt": "x", "width": 65}',
        ],
        env,
    )
    assert invalid.exit_code == 1 and "not a multiple of 8" in invalid.output


def test_keystore_made_by_the_cli_signs_for_the_operator(
    bare_net: OracleChain, tmp_path: Path
) -> None:
    account = bare_net.anvil.accounts()[6]
    keystore = tmp_path / "op.keystore.json"
    made = run(
        ["operator", "new-keystore", str(keystore), "--import-env", "OP_KEY"],
        {"OP_KEY": account.key.hex(), "GENORACLE_KEYSTORE_PASSWORD": "pw"},
    )
    assert made.exit_code == 0 and account.address in made.output
    assert account.key.hex() not in keystore.read_text()
    config = tmp_path / "op.toml"
    config.write_text(
        f'[chain]\nrpc_url = "{bare_net.rpc_url}"\n'
        f'oracle_address = "{bare_net.deployment.oracle}"\n'
        f'[account]\nkeystore = "{keystore.name}"\npassword_env = "OP_PASS"\n'
    )
    registered = run(
        [
            "operator",
            "register",
            "--config",
            str(config),
            "--stake",
            "1",
            "--endpoint",
            "https://ks.example",
            "--model",
            IMAGE_MODEL,
        ],
        {"OP_PASS": "pw"},
    )
    assert registered.exit_code == 0 and f"registered {account.address}" in registered.output
    wrong = run(["operator", "status", "--config", str(config)], {"OP_PASS": "nope"})
    assert wrong.exit_code == 1 and "wrong password" in wrong.output
