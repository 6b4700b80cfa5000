"""AnvilProcess restarts on the same port with its chain (the base of the node's Anvil-restart
fault test): blocks, receipts, logs and nonces kept, the mempool dropped, the clock monotonic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deploy.anvil import AnvilProcess
from deploy.errors import AnvilError

#: Init code whose constructor emits one anonymous log (PUSH1 0 PUSH1 0 LOG0 STOP).
LOGGING_INIT_CODE = "0x60006000a000"


def test_restart_keeps_the_chain_on_the_same_port_and_the_clock_runs_on(tmp_path: Path) -> None:
    with AnvilProcess(state_path=tmp_path / "state.json") as anvil:
        sender = str(anvil.accounts()[0].address)
        created = anvil.rpc("eth_sendTransaction", [{"from": sender, "data": LOGGING_INIT_CODE}])
        anvil.rpc("evm_increaseTime", [3600])  # a test moved the clock an hour ahead
        anvil.rpc("evm_mine", [])
        before = anvil.rpc("eth_getBlockByNumber", ["latest", False])
        port = anvil.port
        anvil.rpc("evm_setAutomine", [False])
        pending = anvil.rpc("eth_sendTransaction", [{"from": sender, "to": sender, "value": "0x1"}])

        anvil.restart(downtime_s=1.0)

        assert anvil.port == port and anvil.running
        after = anvil.rpc("eth_getBlockByNumber", ["latest", False])
        assert (after["number"], after["hash"]) == (before["number"], before["hash"])
        receipt = anvil.rpc("eth_getTransactionReceipt", [created])
        assert receipt["status"] == "0x1" and len(receipt["logs"]) == 1
        logs = anvil.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
        assert [entry["transactionHash"] for entry in logs] == [created]
        # The mempool did not survive; the pending transaction's nonce is free again.
        assert anvil.rpc("eth_getTransactionByHash", [pending]) is None
        assert anvil.rpc("eth_getTransactionCount", [sender, "latest"]) == "0x1"
        # Automine is back, and the new block is not older than the last one before the stop:
        # the hour-ahead clock was restored and the downtime counted.
        sent = anvil.rpc("eth_sendTransaction", [{"from": sender, "to": sender, "value": "0x1"}])
        deadline = time.monotonic() + 10
        while anvil.rpc("eth_getTransactionReceipt", [sent]) is None:  # mined a moment later
            assert time.monotonic() < deadline, "the transaction after the restart was not mined"
            time.sleep(0.05)
        mined = anvil.rpc("eth_getBlockByNumber", ["latest", False])
        assert int(mined["number"], 16) == int(before["number"], 16) + 1
        assert int(mined["timestamp"], 16) >= int(before["timestamp"], 16) + 1
        assert "Listening on" in anvil.log
    assert not anvil.running


def test_restart_needs_a_state_file() -> None:
    anvil = AnvilProcess()
    with anvil:
        with pytest.raises(AnvilError, match="needs a state_path"):
            anvil.restart()
        with pytest.raises(AnvilError, match="already running"):
            anvil.start()
    with pytest.raises(AnvilError, match="no state_path: its chain is gone"):
        anvil.start()
