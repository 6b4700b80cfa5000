"""Chain client and listener on a real Anvil: sends, simulation, retries, cursor, confirmations,
reorgs (no node processes: the pieces the node is built from, exercised one by one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.types import EventData

from oracle.chain.reverts import ContractRevertError, revert_class
from oracle.chain.views import read_operator
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.errors import ChainUnavailableError
from oracle.node.listener import Listener
from oracle.node.store import Store

ETHER = 10**18


@pytest.fixture(scope="module")
def chain() -> Iterator[OracleChain]:
    with oracle_chain((), operators=0) as net:
        yield net


def names(events: list[EventData]) -> list[str]:
    return [event["event"] for event in events]


def test_send_is_simulated_priced_eip1559_and_hash_stored_first(chain: OracleChain) -> None:
    account = chain.anvil.accounts()[3]
    client = chain.client(account)
    seen: list[str] = []
    sent = client.send(
        "register", "https://a.example", [], value=ETHER, before_broadcast=seen.append
    )
    receipt = client.wait_for_receipt(sent.tx_hash)
    tx = client.w3.eth.get_transaction(sent.tx_hash)
    assert seen == [sent.tx_hash] and receipt["status"] == 1
    assert tx["type"] == 2 and tx["maxFeePerGas"] >= tx["maxPriorityFeePerGas"]
    assert read_operator(client, account.address).stake_wei == ETHER

    nonce = client.w3.eth.get_transaction_count(account.address)
    with pytest.raises(revert_class("AlreadyRegistered")) as raised:
        client.send("register", "again", [], value=ETHER, before_broadcast=seen.append)
    assert raised.value.error_args == {"operator": account.address}
    # The revert surfaced in simulation: nothing was signed or sent.
    assert client.w3.eth.get_transaction_count(account.address) == nonce and len(seen) == 1
    with pytest.raises(ContractRevertError, match=r"StakeTooLow\(stake=1, minStake="):
        chain.client(chain.anvil.accounts()[4]).transact("register", "x", [], value=1)


def test_unreachable_rpc_is_retried_then_reported(chain: OracleChain) -> None:
    with pytest.raises(ChainUnavailableError, match=r"127\.0\.0\.1:9 unreachable after 3"):
        chain.client(rpc_url="http://127.0.0.1:9", max_retries=2, retry_backoff_s=0.01)


def test_listener_cursor_dedupe_confirmations_and_reorg(chain: OracleChain, tmp_path: Path) -> None:
    client = chain.client()
    store = Store(tmp_path / "node.sqlite3")
    start = client.block_number() + 1
    listener = Listener(client, store, start_block=start)
    assert listener.poll() == []
    accounts = chain.anvil.accounts()
    chain.client(accounts[5]).transact("register", "https://b.example", [], value=ETHER)
    assert names(listener.poll()) == ["OperatorRegistered"]
    assert listener.poll() == []  # same head: nothing re-reported
    chain.rpc("evm_mine", [])
    assert listener.poll() == []  # the margin is re-read, the log is not reported twice
    assert store.log_cursor() == client.block_number()

    # A restarted listener resumes from the stored cursor.
    chain.client(accounts[6]).transact("register", "https://c.example", [], value=ETHER)
    again = Listener(client, store, start_block=start)
    assert names(again.poll()) == ["OperatorRegistered"]

    # Replace the head block with one holding a different registration: the listener sees
    # the reorg and reports the new branch's log.
    replacement = {
        "from": accounts[8].address,
        "to": client.address,
        "data": client.oracle.encode_abi("register", ["https://d.example", []]),
        "value": hex(ETHER),
        "gas": hex(500_000),
    }
    chain.client(accounts[7]).transact("register", "https://lost.example", [], value=ETHER)
    assert names(again.poll()) == ["OperatorRegistered"]
    chain.rpc("anvil_reorg", [1, [[replacement, 0]]])
    events = again.poll()
    assert again.reorged
    assert [e["args"]["operator"] for e in events] == [accounts[8].address]
    assert not read_operator(client, accounts[7].address).active

    # With confirmations, a log is reported only once it is buried deep enough.
    deep = Listener(
        chain.client(confirmations=2),
        Store(tmp_path / "deep.sqlite3"),
        start_block=client.block_number() + 1,
    )
    chain.client(accounts[9]).transact("register", "https://e.example", [], value=ETHER)
    assert deep.poll() == []
    chain.rpc("evm_mine", [])
    assert deep.poll() == []
    chain.rpc("evm_mine", [])
    assert names(deep.poll()) == ["OperatorRegistered"]
