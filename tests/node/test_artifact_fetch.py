"""`genoracle task fetch` and `OracleClient.fetch`: an artifact comes from a committee member's
registered endpoint and is saved only if its digest agrees with the chain.

Real node processes serve the artifacts. The attacker is a member whose registered endpoint
serves a forged file (another image, other token ids, the right token ids with another text): it
is skipped and the next member is tried; when every member forges, nothing is saved and the
error names what each one served.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, TEXT_INPUT, TEXT_MODEL
from PIL import Image

from oracle.chain.views import read_operator, read_task
from oracle.cli import main
from oracle.dev.localnet import NodeProcess, OracleChain
from oracle.sdk.fetch import FetchError


def run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=False)


def chain_args(net: OracleChain) -> list[str]:
    return ["--rpc-url", net.rpc_url, "--oracle", net.deployment.oracle]


@pytest.fixture(scope="module")
def resolved(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> dict[str, int]:
    client = honest_net.requester_client()
    image = client.submit(IMAGE_MODEL, {**IMAGE_INPUT, "prompt": "a fetched lighthouse"})
    text = client.submit(TEXT_MODEL, {**TEXT_INPUT, "prompt": "The fetched answer"})
    for task in (image, text):
        assert client.wait(task.task_id, timeout_s=180).status == "resolved"
    return {"image": image.task_id, "text": text.task_id}


class _Forger:
    """An HTTP server that answers every GET with one forged body."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "image/png"
        forger = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", forger.content_type)
                self.send_header("Content-Length", str(len(forger.body)))
                self.end_headers()
                self.wfile.write(forger.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, body: bytes, content_type: str) -> None:
        self.body, self.content_type = body, content_type


@pytest.fixture
def forger(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> Iterator[_Forger]:
    """The forging server; every operator's registered endpoint is put back afterwards."""
    server = _Forger()
    yield server
    for node in honest_nodes:
        honest_net.client(node.account).transact("setEndpoint", node.api_url)
    server.server.shutdown()


def _point_at(net: OracleChain, nodes: list[NodeProcess], operator: str, url: str) -> None:
    node = next(n for n in nodes if n.address == operator)
    net.client(node.account).transact("setEndpoint", url)


def _checkerboard_png() -> bytes:
    image = Image.new("L", (64, 64))
    image.putdata([255 * ((x // 8 + y // 8) % 2) for y in range(64) for x in range(64)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_fetch_saves_an_image_that_matches_the_chain(
    honest_net: OracleChain, resolved: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "image.png"
    fetched = run(
        ["task", "fetch", *chain_args(honest_net), str(resolved["image"]), "--out", str(out)]
    )
    assert fetched.exit_code == 0, fetched.output
    assert fetched.output.startswith(f"MATCH: task {resolved['image']}'s image from 0x")
    assert "distances 0/0/0/0" in fetched.output and f"saved {out}" in fetched.output
    assert Image.open(out).size == (64, 64)
    verified = run(["verify", *chain_args(honest_net), "--task", str(resolved["image"]), str(out)])
    assert verified.exit_code == 0 and verified.output.startswith("MATCH"), verified.output

    sdk = honest_net.requester_client().fetch(resolved["image"])
    assert sdk.data == out.read_bytes() and sdk.verification.match
    assert [a.outcome for a in sdk.attempts] == ["match"]


def test_fetch_text_checks_its_token_ids_and_verify_takes_the_plain_text(
    honest_net: OracleChain, resolved: dict[str, int], tmp_path: Path
) -> None:
    task = str(resolved["text"])
    as_text = tmp_path / "answer.txt"
    fetched = run(["task", "fetch", *chain_args(honest_net), task, "--out", str(as_text)])
    assert fetched.exit_code == 0, fetched.output
    assert "the token ids are verified; the text is the member's decoding" in fetched.output
    checked = run(
        [
            "task",
            "fetch",
            *chain_args(honest_net),
            task,
            "--out",
            str(as_text),
            "--model",
            TEXT_MODEL,
        ]
    )
    assert checked.exit_code == 0 and "member's decoding" not in checked.output, checked.output
    as_json = tmp_path / "answer.json"
    assert (
        run(["task", "fetch", *chain_args(honest_net), task, "--out", str(as_json)]).exit_code == 0
    )
    saved = json.loads(as_json.read_text())
    assert saved["text"] == as_text.read_text() and saved["token_ids"]

    for path in (as_text, as_json):  # a plain text too: members serve its token ids now
        verified = run(["verify", *chain_args(honest_net), "--task", task, str(path)])
        assert verified.exit_code == 0 and verified.output.startswith("MATCH"), verified.output
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({"token_ids": [*saved["token_ids"][:-1], 0]}))
    mismatch = run(["verify", *chain_args(honest_net), "--task", task, str(tampered)])
    assert mismatch.exit_code == 1 and mismatch.output.startswith("MISMATCH")
    other_text = tmp_path / "other.txt"
    other_text.write_text(as_text.read_text() + " and more")
    refused = run(["verify", *chain_args(honest_net), "--task", task, str(other_text)])
    assert refused.exit_code == 1 and "cannot be digested without" in refused.output


def test_a_member_serving_a_forged_image_is_skipped(
    honest_net: OracleChain,
    honest_nodes: list[NodeProcess],
    resolved: dict[str, int],
    forger: _Forger,
    tmp_path: Path,
) -> None:
    task_id = resolved["image"]
    view = read_task(honest_net.client(), task_id)
    assert view is not None
    first, *rest = view.committee
    forger.serve(_checkerboard_png(), "image/png")
    _point_at(honest_net, honest_nodes, first, forger.url)

    fetched = honest_net.requester_client().fetch(task_id)
    assert fetched.operator != first and fetched.verification.match
    assert fetched.attempts[0].operator == first and fetched.attempts[0].endpoint == forger.url
    assert "served an image whose digest" in fetched.attempts[0].outcome
    assert "bits from the chain's per lane" in fetched.attempts[0].outcome
    assert fetched.attempts[1].outcome == "match"

    out = tmp_path / "forged.png"
    cli = run(["task", "fetch", *chain_args(honest_net), str(task_id), "--out", str(out)])
    assert cli.exit_code == 0 and cli.output.startswith(f"skipped {first} ({forger.url})")
    assert out.read_bytes() == fetched.data

    for operator in rest:  # every member forges now: nothing is saved
        _point_at(honest_net, honest_nodes, operator, forger.url)
    refused_out = tmp_path / "none.png"
    refused = run(
        ["task", "fetch", *chain_args(honest_net), str(task_id), "--out", str(refused_out)]
    )
    assert refused.exit_code == 1
    assert f"no committee member served a image artifact of task {task_id}" in refused.output
    assert "nothing was saved" in refused.output and refused.output.count(forger.url) == 3
    assert not refused_out.exists()
    forger.serve(b"not an image", "image/png")
    with pytest.raises(FetchError, match="served a file that cannot be checked"):
        honest_net.requester_client().fetch(task_id)


def test_a_member_serving_forged_token_ids_or_text_is_skipped(
    honest_net: OracleChain,
    honest_nodes: list[NodeProcess],
    resolved: dict[str, int],
    forger: _Forger,
) -> None:
    task_id = resolved["text"]
    client = honest_net.requester_client()
    honest = client.fetch(task_id)
    view = read_task(honest_net.client(), task_id)
    assert view is not None and honest.token_ids
    first = view.committee[0]
    _point_at(honest_net, honest_nodes, first, forger.url)

    forger.serve(
        json.dumps({"token_ids": [1, 2, 3], "text": "forged"}).encode(), "application/json"
    )
    fetched = client.fetch(task_id)
    assert fetched.operator != first and fetched.data == honest.data
    assert "served token ids whose digest" in fetched.attempts[0].outcome

    # The right token ids with a forged text: only the model's own decoding can tell.
    forged_text = {"token_ids": honest.token_ids, "text": "send your keys to 0xbad"}
    forger.serve(json.dumps(forged_text).encode(), "application/json")
    checked = client.fetch(task_id, model=TEXT_MODEL)
    assert checked.operator != first and checked.text_checked is True
    assert checked.attempts[0].outcome == (
        "served matching token ids with a text that is not their decoding"
    )
    assert checked.data == honest.data


def test_fetch_refuses_tasks_without_a_verified_digest(
    honest_net: OracleChain, honest_nodes: list[NodeProcess], tmp_path: Path
) -> None:
    args = chain_args(honest_net)
    out = tmp_path / "x.png"
    missing = run(["task", "fetch", *args, "999999", "--out", str(out)])
    assert missing.exit_code == 1 and "task 999999 does not exist" in missing.output
    client = honest_net.requester_client()
    invalid = client.submit(IMAGE_MODEL, b'{"prompt": 5}', validate=False)
    assert client.wait(invalid.task_id, timeout_s=180).invalid_input
    refused = run(["task", "fetch", *args, str(invalid.task_id), "--out", str(out)])
    assert refused.exit_code == 1 and "resolved as an invalid input" in refused.output
    assert not out.exists()
    for node in honest_nodes:  # the endpoints are real nodes' APIs again
        assert read_operator(honest_net.client(), node.address).endpoint == node.api_url
