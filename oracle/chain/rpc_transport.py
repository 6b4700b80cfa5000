"""JSON-RPC over a kept-alive HTTP connection per thread, without the requests stack.

A node asks its RPC for the head ten times a second and makes a few calls per task step; through
web3's provider each request cost about 3 ms of CPU in requests/urllib3 (session merging,
adapters, header objects), which was most of an idle node's CPU and a third of a busy one's.
This transport sends one buffer per request on http.client and parses the JSON answer: a tenth
of that. Proxied RPC URLs keep using web3's provider (`ChainClient` decides).
"""

from __future__ import annotations

import http.client
import itertools
import json
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from oracle.errors import ChainError


class RpcHttpError(ConnectionError):
    """The RPC answered 429 or 5xx: transient, retried like a refused connection."""


class JsonRpcTransport:
    """Sends JSON-RPC requests to one HTTP(S) URL; each thread keeps its own connection."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"RPC URL {url!r} is not an http(s) URL")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._ssl = ssl.create_default_context() if self._https else None

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._ssl is not None:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout_s, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout_s
                )
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        """The JSON-RPC response object ({"result": ...} or {"error": ...}). A connection the
        server closed while idle is reopened once at once; other network failures raise
        ConnectionError or TimeoutError (the caller retries those)."""
        body = json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}
        ).encode()
        reused = getattr(self._local, "connection", None) is not None
        try:
            return self._exchange(body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
        return self._exchange(body)

    def _exchange(self, body: bytes) -> dict[str, Any]:
        """One request and its answer; any failure closes the connection, so the next request
        starts on a fresh one (http.client refuses to send on a connection whose last request
        broke off midway: CannotSendRequest)."""
        try:
            return self._exchange_on(self._connection(), body)
        except BaseException:
            self._drop_connection()
            raise

    def _exchange_on(self, connection: http.client.HTTPConnection, body: bytes) -> dict[str, Any]:
        try:
            connection.request("POST", self._path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
        except http.client.HTTPException as exc:
            if isinstance(exc, ConnectionError):
                raise
            raise ConnectionError(f"malformed HTTP answer: {exc}") from None
        if response.status == 429 or response.status >= 500:
            raise RpcHttpError(f"HTTP {response.status} from {self.url}")
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
            raise ChainError(
                f"{self.url} did not answer JSON-RPC (HTTP {response.status}, "
                f"{payload[:80]!r}): point chain.rpc_url at an Ethereum node's RPC endpoint"
            )
        return answer
