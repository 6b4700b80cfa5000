"""The node's HTTP API against a live node: every endpoint, bad ids, bad uploads, bad tokens."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, TEXT_INPUT, TEXT_MODEL
from PIL import Image

from oracle.dev.localnet import API_TOKEN, NodeProcess, OracleChain, wait_until

GENORACLE = str(Path(sys.executable).parent / "genoracle")
ROUTES = (
    "/health",
    "/metrics",
    "/tasks/{task_id}",
    "/tasks/{task_id}/artifact",
    "/tasks/{task_id}/tokens",
    "/tasks/{task_id}/verify",
    "/operator/status",
    "/operator/tasks",
    "/operator/tasks/{task_id}/journal",
    "/operator/rejections",
    "/operator/claim",
)


@pytest.fixture(scope="module")
def resolved(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> dict[str, int]:
    """One resolved image task and one resolved text task."""
    client = honest_net.requester_client()
    image = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    text = client.submit(TEXT_MODEL, TEXT_INPUT)
    client.wait(image.task_id, timeout_s=120)
    client.wait(text.task_id, timeout_s=120)
    # The node's own record trails the chain by a poll or two.
    for task_id in (image.task_id, text.task_id):
        wait_until(
            lambda t=task_id: (honest_nodes[0].local_task(t) or {}).get("state") == "done",
            30,
            f"node 0 to finish task {task_id}",
        )
    return {"image": image.task_id, "text": text.task_id}


@pytest.fixture(scope="module")
def api(honest_nodes: list[NodeProcess]) -> httpx.Client:
    return httpx.Client(base_url=honest_nodes[0].api_url, timeout=30)


def auth(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(
    api: httpx.Client, task_id: int | str, data: bytes, name: str = "a.png"
) -> httpx.Response:
    return api.post(f"/tasks/{task_id}/verify", files={"file": (name, data)})


def test_health_and_metrics(
    api: httpx.Client, resolved: dict[str, int], honest_nodes: list[NodeProcess]
) -> None:
    health = api.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["rpc_reachable"] is True
    assert body["operator"] == honest_nodes[0].address
    assert set(body["models"].values()) == {IMAGE_MODEL, TEXT_MODEL}
    assert body["tasks_by_state"].get("done", 0) >= 2
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'genoracle_transactions_sent_total{kind="commit"}' in metrics.text
    assert "genoracle_inference_seconds_count" in metrics.text


def test_task_status_has_votes_distances_payouts_and_local_view(
    api: httpx.Client, resolved: dict[str, int]
) -> None:
    body = api.get(f"/tasks/{resolved['image']}").json()
    assert body["status"] == "resolved" and body["phase"] == "finished"
    assert len(body["votes"]) == 3
    assert all(v["distances"] == [0, 0, 0, 0] and v["agrees"] for v in body["votes"])
    assert len(body["payouts"]) == 3 and body["resolution_tx"].startswith("0x")
    assert body["node"]["state"] == "done" and body["node"]["digest"] == body["digest"]
    assert body["node"]["inference_seconds"] > 0


@pytest.mark.parametrize(
    ("task_id", "status", "reason"),
    [
        ("999999", 404, "task 999999 does not exist"),
        ("abc", 422, "task_id: Input should be a valid integer"),
        ("0", 422, "task_id: Input should be greater than or equal to 1"),
        (str(2**256), 422, "task_id: Input should be less than or equal to"),
        ("-5", 422, "greater than or equal to 1"),
    ],
)
def test_bad_task_ids_are_4xx_with_a_reason(
    api: httpx.Client, task_id: str, status: int, reason: str
) -> None:
    for path in (f"/tasks/{task_id}", f"/tasks/{task_id}/artifact"):
        response = api.get(path)
        if status == 404 and path.endswith("artifact"):
            assert response.status_code == 404
            assert "no artifact for task" in response.json()["detail"]
            continue
        assert response.status_code == status, response.text
        assert reason in response.json()["detail"]
    response = upload(api, task_id, b"x")
    assert response.status_code == status
    assert reason in response.json()["detail"]


def test_artifacts_by_task_id(api: httpx.Client, resolved: dict[str, int]) -> None:
    image = api.get(f"/tasks/{resolved['image']}/artifact")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (64, 64)
    text = api.get(f"/tasks/{resolved['text']}/artifact")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    tokens = api.get(f"/tasks/{resolved['text']}/tokens").json()
    assert tokens["text"] == text.text and tokens["token_ids"]
    none = api.get(f"/tasks/{resolved['image']}/tokens")
    assert none.status_code == 404 and "not a text task" in none.json()["detail"]


def test_verify_uploads(api: httpx.Client, resolved: dict[str, int]) -> None:
    png = api.get(f"/tasks/{resolved['image']}/artifact").content
    good = upload(api, resolved["image"], png)
    assert good.status_code == 200 and good.json()["match"] is True
    assert good.json()["distances"] == [0, 0, 0, 0] and good.json()["scheme"]

    checker = Image.new("L", (64, 64))
    checker.putdata([255 * ((x // 8 + y // 8) % 2) for y in range(64) for x in range(64)])
    other = io.BytesIO()
    checker.save(other, format="PNG")
    wrong = upload(api, resolved["image"], other.getvalue())
    assert wrong.status_code == 200 and wrong.json()["match"] is False

    text = api.get(f"/tasks/{resolved['text']}/artifact").content
    as_text = upload(api, resolved["text"], text, "out.txt")
    assert as_text.status_code == 200 and as_text.json()["match"] is True
    local = api.get(f"/tasks/{resolved['text']}").json()
    assert local["digest"] == as_text.json()["digest"]

    cases: list[tuple[int | str, bytes, int, str]] = [
        (resolved["image"], b"not an image", 400, "cannot digest the file"),
        (resolved["image"], b"", 400, "empty"),
        (resolved["image"], b"\x89PNG" + b"\0" * 200_000, 413, "larger than 100000 bytes"),
        (resolved["text"], b"some other text", 400, "cannot be digested without"),
        (resolved["text"], b'{"token_ids": "nope"}', 400, "token_ids must be a list"),
        (resolved["text"], b'{"tokens": [1]}', 400, 'must be {"token_ids"'),
    ]
    for task_id, data, status, reason in cases:
        response = upload(api, task_id, data)
        assert response.status_code == status, (data[:20], response.text)
        assert reason in response.json()["detail"]
    missing_file = api.post(f"/tasks/{resolved['image']}/verify")
    assert (
        missing_file.status_code == 422 and "file: Field required" in missing_file.json()["detail"]
    )


def test_a_non_image_upload_says_so_and_what_to_upload(
    api: httpx.Client, resolved: dict[str, int]
) -> None:
    """Pillow's "cannot identify image file <_io.BytesIO object at 0x...>" used to be the
    reason."""
    response = upload(api, resolved["image"], b"a letter, not a picture", "photo.png")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "cannot digest the file: not a readable image: the data is in no image format Pillow "
        "reads (PNG, JPEG, ...); upload the image the task produced"
    )


def test_the_verify_command_says_outside_tolerance_on_a_mismatch(
    api: httpx.Client, honest_net: OracleChain, resolved: dict[str, int], tmp_path: Path
) -> None:
    """A mismatch used to print "distances 28/30/0/0 within tolerance 4/6/0/0"."""
    artifact = tmp_path / "artifact.png"
    artifact.write_bytes(api.get(f"/tasks/{resolved['image']}/artifact").content)
    checker = Image.new("L", (64, 64))
    checker.putdata([255 * ((x // 8 + y // 8) % 2) for y in range(64) for x in range(64)])
    other = tmp_path / "other.png"
    checker.save(other)
    chain = ["--rpc-url", honest_net.rpc_url, "--oracle", honest_net.deployment.oracle]
    task = ["--task", str(resolved["image"])]

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [GENORACLE, "verify", *chain, *task, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    matched, mismatched = verify(artifact), verify(other)
    assert matched.returncode == 0, matched.stderr
    assert re.search(r"\n  distances 0/0/0/0 within tolerance \d+/\d+/\d+/\d+ ", matched.stdout)
    assert mismatched.returncode == 1, mismatched.stderr
    assert mismatched.stdout.startswith(f"MISMATCH: {other} digest 0x")
    assert re.search(r"\n  distances [\d/]+ outside tolerance \d+/\d+/\d+/\d+ ", mismatched.stdout)
    assert "within" not in mismatched.stdout


def test_verify_text_by_token_ids(
    api: httpx.Client, resolved: dict[str, int], honest_nodes: list[NodeProcess]
) -> None:
    from oracle.node.store import Store

    store = Store(honest_nodes[0].data_dir / "node.sqlite3")
    artifact = store.get_artifact(resolved["text"])
    store.close()
    assert artifact is not None and artifact.token_ids
    body = json.dumps({"token_ids": artifact.token_ids}).encode()
    assert upload(api, resolved["text"], body, "ids.json").json()["match"] is True
    tampered = json.dumps({"token_ids": [*artifact.token_ids[:-1], 0]}).encode()
    assert upload(api, resolved["text"], tampered, "ids.json").json()["match"] is False


@pytest.mark.parametrize(
    "path",
    ["/operator/status", "/operator/tasks", "/operator/rejections", "/operator/tasks/1/journal"],
)
def test_operator_endpoints_need_the_token(api: httpx.Client, path: str) -> None:
    missing = api.get(path)
    assert missing.status_code == 401 and "missing bearer token" in missing.json()["detail"]
    wrong = api.get(path, headers=auth("guess"))
    assert wrong.status_code == 403 and "wrong bearer token" in wrong.json()["detail"]
    assert api.post("/operator/claim").status_code == 401


def test_operator_endpoints_with_the_token(
    api: httpx.Client, resolved: dict[str, int], honest_nodes: list[NodeProcess]
) -> None:
    status = api.get("/operator/status", headers=auth()).json()
    assert status["address"] == honest_nodes[0].address and status["active"] is True
    assert status["stake_wei"] > 0 and status["credit_wei"] > 0 and status["balance_wei"] > 0
    assert sorted(status["models"]) == sorted(api.get("/health").json()["models"])
    tasks = api.get("/operator/tasks", headers=auth(), params={"state": "done"}).json()
    assert {resolved["image"], resolved["text"]} <= {t["task_id"] for t in tasks}
    bad_state = api.get("/operator/tasks", headers=auth(), params={"state": "bogus"})
    assert bad_state.status_code == 400 and "unknown state 'bogus'" in bad_state.json()["detail"]
    bad_limit = api.get("/operator/tasks", headers=auth(), params={"limit": 0})
    assert bad_limit.status_code == 422
    journal = api.get(f"/operator/tasks/{resolved['image']}/journal", headers=auth()).json()
    steps = [entry["step"] for entry in journal]
    assert steps[:2] == ["computed", "commit_sent"] and "done" in steps
    assert api.get("/operator/tasks/999999/journal", headers=auth()).status_code == 404

    claimed = api.post("/operator/claim", headers=auth())
    assert claimed.status_code == 200 and claimed.json()["amount_wei"] > 0
    again = api.post("/operator/claim", headers=auth())
    assert again.status_code == 409 and "NothingToClaim" in again.json()["detail"]


def test_openapi_documents_every_route_and_its_errors(api: httpx.Client) -> None:
    schema: dict[str, Any] = api.get("/openapi.json").json()
    assert set(ROUTES) <= set(schema["paths"])
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if "{task_id}" in path or path.startswith("/operator"):
                assert any(code.startswith("4") for code in operation["responses"]), path
    assert "HTTPBearer" in json.dumps(schema["components"]["securitySchemes"])
