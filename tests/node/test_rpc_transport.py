"""The node's JSON-RPC transport against real sockets: a real Anvil, and small HTTP servers that
misbehave the ways RPC endpoints do (close idle connections, answer 503, answer HTML)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from oracle.chain.client import ChainClient
from oracle.chain.rpc_transport import JsonRpcTransport, RpcHttpError
from oracle.config import ChainSettings
from oracle.dev.flaky_proxy import FlakyProxy
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.errors import ChainError, ChainUnavailableError


@pytest.fixture(scope="module")
def chain() -> Iterator[OracleChain]:
    with oracle_chain((), operators=0) as net:
        yield net


class _Server:
    """An HTTP server answering POST number n with `answer(n)` -> (status, body, close)."""

    def __init__(self, answer: object) -> None:
        outer = self
        self.requests = 0
        self.connections: set[int] = set()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                outer.connections.add(id(self.connection))
                status, body, close = answer(outer.requests)  # type: ignore[operator]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                if close:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _ok(count: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": count, "result": hex(count)}).encode()


def test_requests_reuse_one_connection_and_match_anvil(chain: OracleChain) -> None:
    transport = JsonRpcTransport(chain.rpc_url, timeout_s=5)
    numbers = [int(transport.request("eth_blockNumber", [])["result"], 16) for _ in range(20)]
    assert numbers == [chain.client().w3.eth.block_number] * 20
    answer = transport.request("eth_call", [{"to": "0x" + "00" * 20, "data": "0x"}, "latest"])
    assert answer["result"] == "0x"


def test_a_connection_the_server_closed_is_reopened_at_once() -> None:
    server = _Server(lambda count: (200, _ok(count), True))  # closes after every answer
    try:
        transport = JsonRpcTransport(server.url, timeout_s=5)
        assert [transport.request("eth_blockNumber", [])["result"] for _ in range(3)] == [
            "0x1",
            "0x2",
            "0x3",
        ]
    finally:
        server.stop()


def test_busy_answers_are_transient_and_retried_by_the_client() -> None:
    server = _Server(
        lambda count: (503, b"busy", False) if count <= 2 else (200, _ok(count), False)
    )
    try:
        transport = JsonRpcTransport(server.url, timeout_s=5)
        with pytest.raises(RpcHttpError, match="HTTP 503"):
            transport.request("eth_chainId", [])
        # The client retries transient failures with its backoff, then gets the answer.
        client = ChainClient(
            ChainSettings(
                rpc_url=server.url,
                oracle_address="0x" + "11" * 20,
                retry_backoff_s=0.01,
                max_retries=3,
            )
        )
        assert client.chain_id == 3
    finally:
        server.stop()


def test_a_url_that_is_not_an_rpc_is_named_with_the_fix() -> None:
    server = _Server(lambda count: (200, b"<html>hello</html>", False))
    try:
        with pytest.raises(ChainError, match=r"did not answer JSON-RPC .*point chain\.rpc_url"):
            JsonRpcTransport(server.url, timeout_s=5).request("eth_chainId", [])
    finally:
        server.stop()
    with pytest.raises(ChainError, match="is not an http"):
        JsonRpcTransport("ws://127.0.0.1:8545", timeout_s=5)


def test_nothing_listening_is_unavailable_after_the_retries() -> None:
    with pytest.raises(ChainUnavailableError, match="unreachable after 2 attempts"):
        ChainClient(
            ChainSettings(
                rpc_url="http://127.0.0.1:9",
                oracle_address="0x" + "11" * 20,
                retry_backoff_s=0.01,
                max_retries=1,
            )
        )


def test_the_first_request_after_an_outage_gets_through(chain: OracleChain) -> None:
    """An outage breaks requests midway (the proxy accepts, then closes): the connection they
    leave behind must not be reused, or the first request after the outage fails on it."""
    proxy = FlakyProxy(chain.anvil.port)
    transport = JsonRpcTransport(proxy.url, timeout_s=5)
    try:
        for _ in range(20):
            assert "result" in transport.request("eth_blockNumber", [])
            proxy.up = False
            time.sleep(0.25)  # the proxy's open pipes notice and close
            for _ in range(3):
                with pytest.raises(ConnectionError):
                    transport.request("eth_blockNumber", [])
            proxy.up = True
    finally:
        proxy.close()
