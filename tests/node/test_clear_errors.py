"""What a newcomer gets wrong first reads as one line naming the problem and the fix, never a
traceback: an oracle address with no code, an RPC URL that is not an RPC, an unknown model in a
node config. Real Anvil, real `genoracle` processes, real HTTP servers that are not RPCs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oracle.dev.localnet import OracleChain, oracle_chain

GENORACLE = str(Path(sys.executable).parent / "genoracle")
NO_CODE = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((), operators=0) as chain:
        yield chain


def genoracle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GENORACLE_")}
    return subprocess.run(
        [GENORACLE, *args],
        env={**clean, "GENORACLE_CHAIN_MAX_RETRIES": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


class _NotAnRpc(BaseHTTPRequestHandler):
    """A web server at the URL: it answers every request with a page (or an error status)."""

    status = 200

    def do_POST(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>a web page</body></html>")

    do_GET = do_POST  # noqa: N815 (the handler's method name)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[200, 404, 501], ids=["page", "not-found", "no-post"])
def web_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_NotAnRpc,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_oracle_address_with_no_code(net: OracleChain) -> None:
    line = one_line_error(
        genoracle("task", "show", "--rpc-url", net.rpc_url, "--oracle", NO_CODE, "1")
    )
    assert line == (
        f"Error: no contract at {NO_CODE} on chain 31337 ({net.rpc_url}): check "
        "chain.oracle_address (--oracle) or the deployment record, or deploy again (a restarted "
        "local chain has lost its contracts)"
    )


def test_an_rpc_url_that_is_not_an_rpc(web_server: str) -> None:
    shown = one_line_error(
        genoracle("task", "show", "--rpc-url", web_server, "--oracle", NO_CODE, "1")
    )
    assert shown.startswith(f"Error: read chain id: {web_server} is not an Ethereum JSON-RPC ")
    assert shown.endswith(
        "; check --rpc-url or chain.rpc_url (`genoracle chain up` serves http://127.0.0.1:8545)"
    )
    deployed = one_line_error(genoracle("deploy", "--rpc-url", web_server, "--anvil-account", "0"))
    assert deployed.startswith(f"Error: {web_server} is not an Ethereum JSON-RPC endpoint")


def test_an_unknown_model_in_a_node_config(net: OracleChain, tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        "[chain]\n"
        f'rpc_url = "{net.rpc_url}"\n'
        f'oracle_address = "{net.deployment.oracle}"\n'
        "[node]\n"
        'data_dir = "data"\n'
        'models = ["tiny-sd", "no-such-model"]\n'
        'worker = "thread"\n'
        "[api]\n"
        "enabled = false\n"
    )
    key = net.operators[0].key.hex() if net.operators else net.anvil.accounts()[1].key.hex()
    line = one_line_error(
        genoracle("node", "run", "--config", str(config), env={"GENORACLE_PRIVATE_KEY": key})
    )
    assert "node.models = ['tiny-sd', 'no-such-model']" in line
    assert "unknown model 'no-such-model'" in line
    assert line.endswith(
        "; fix node.models in the node's config: built-in names (see `genoracle models list`), "
        "folders holding a manifest.json, or hub ids owner/name"
    )
