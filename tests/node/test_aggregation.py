"""PeerOpenings against a real chain and real HTTP servers: a peer's opening is used only when it
matches the commitment stored on chain; anything else is ignored (and the member reveals alone)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL

from oracle.chain.views import Phase, commitment, read_phase, read_task
from oracle.dev.localnet import OracleChain, free_port, oracle_chain
from oracle.node.aggregation import Opening, PeerOpenings

DIGEST = bytes.fromhex("c3a5" * 16)


class PeerServer:
    """A member's API stand-in: answers GET /tasks/<id>/opening with a settable reply."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {}
        self.port = free_port()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                payload = json.dumps(owner.body).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def test_only_an_opening_that_matches_the_commitment_on_chain_is_used(net: OracleChain) -> None:
    task = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT, committee_size=3)
    net.client(net.requester).transact("drawCommittees", 10)  # the next block draws it
    view = read_task(net.client(), task.task_id)
    assert view is not None
    accounts = {account.address: account for account in net.operators}
    salts = {member: os.urandom(32) for member in view.committee}
    for member in view.committee:
        sealed = commitment(
            net.client().chain_id,
            net.deployment.oracle,
            task.task_id,
            member,
            DIGEST,
            salts[member],
        )
        net.client(accounts[member]).transact("commit", task.task_id, sealed)
    assert read_phase(net.client(), task.task_id) == Phase.REVEAL

    peer, position = view.committee[1], 1
    server = PeerServer()
    try:
        net.client(accounts[peer]).transact("setEndpoint", server.url)
        peers = PeerOpenings(net.client(accounts[view.committee[0]]), timeout_s=2.0)

        def reply(**changes: Any) -> dict[str, Any]:
            body = {
                "task_id": task.task_id,
                "position": position,
                "operator": peer,
                "digest": "0x" + DIGEST.hex(),
                "salt": "0x" + salts[peer].hex(),
            }
            return {**body, **changes}

        server.body = reply()
        assert peers.fetch(task.task_id, position, peer) == Opening(
            position, peer, DIGEST, salts[peer]
        )
        # Another digest behind the same salt, or the opening of another position: rejected.
        server.body = reply(digest="0x" + bytes(32).hex())
        assert peers.fetch(task.task_id, position, peer) is None
        server.body = reply(position=2)
        assert peers.fetch(task.task_id, position, peer) is None
        server.body = reply(salt="0x1234")
        assert peers.fetch(task.task_id, position, peer) is None
        server.body = {"detail": "no"}
        assert peers.fetch(task.task_id, position, peer) is None
        server.status, server.body = 409, {"detail": "still in its commit phase"}
        assert peers.fetch(task.task_id, position, peer) is None
    finally:
        server.close()
    # An endpoint that does not answer at all.
    assert peers.fetch(task.task_id, position, peer) is None

    # The checked opening goes on chain in a batch with a member's own.
    own = view.committee[0]
    batch = [(0, own, DIGEST, salts[own]), (position, peer, DIGEST, salts[peer])]
    receipt = net.client(accounts[own]).transact("revealBatch", task.task_id, batch)
    assert receipt["status"] == 1
    after = read_task(net.client(), task.task_id)
    assert after is not None and list(after.revealed) == [True, True, False]


def test_a_peer_that_revealed_alone_is_not_reported_as_serving_a_bad_opening(
    net: OracleChain, caplog: pytest.LogCaptureFixture
) -> None:
    """Once revealed, a member's commitment on chain is replaced by its digest, so its honest
    opening no longer matches it: the aggregator skips it without a warning."""
    task = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT, committee_size=3)
    net.client(net.requester).transact("drawCommittees", 10)
    view = read_task(net.client(), task.task_id)
    assert view is not None
    accounts = {account.address: account for account in net.operators}
    salts = {member: os.urandom(32) for member in view.committee}
    for member in view.committee:
        chain = net.client(accounts[member])
        sealed = commitment(
            chain.chain_id, chain.address, task.task_id, member, DIGEST, salts[member]
        )
        chain.transact("commit", task.task_id, sealed)
    peer, position = view.committee[1], 1
    net.client(accounts[peer]).transact("reveal", task.task_id, DIGEST, salts[peer])
    server = PeerServer()
    try:
        net.client(accounts[peer]).transact("setEndpoint", server.url)
        server.body = {
            "task_id": task.task_id,
            "position": position,
            "operator": peer,
            "digest": "0x" + DIGEST.hex(),
            "salt": "0x" + salts[peer].hex(),
        }
        peers = PeerOpenings(net.client(accounts[view.committee[0]]), timeout_s=2.0)
        with caplog.at_level(logging.DEBUG, logger="oracle.node.aggregation"):
            assert peers.fetch(task.task_id, position, peer) is None
    finally:
        server.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, warnings
    assert any("revealed meanwhile" in r.getMessage() for r in caplog.records)
