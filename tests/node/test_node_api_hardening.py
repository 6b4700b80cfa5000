"""The node API against hostile requests on a live node: task ids beyond SQLite's integer range,
and image uploads that decode to far more pixels than they weigh (decompression bombs)."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL
from PIL import Image

from oracle.dev.localnet import API_TOKEN, NodeProcess, OracleChain, wait_until
from oracle.sdk.verify import MAX_VERIFY_PIXELS

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TASK_ROUTES = (
    ("GET", "/tasks/{}"),
    ("GET", "/tasks/{}/opening"),
    ("GET", "/tasks/{}/artifact"),
    ("POST", "/tasks/{}/verify"),
    ("GET", "/operator/tasks/{}/journal"),
)


@pytest.fixture(scope="module")
def api(honest_nodes: list[NodeProcess]) -> httpx.Client:
    return httpx.Client(base_url=honest_nodes[0].api_url, timeout=60)


@pytest.fixture(scope="module")
def image_task(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> int:
    """A resolved image task that node 0 worked on."""
    client = honest_net.requester_client()
    task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    client.wait(task.task_id, timeout_s=120)
    wait_until(
        lambda: (honest_nodes[0].local_task(task.task_id) or {}).get("state") == "done",
        30,
        f"node 0 to finish task {task.task_id}",
    )
    return task.task_id


def _request(api: httpx.Client, method: str, path: str) -> httpx.Response:
    if method == "POST":
        return api.post(path, files={"file": ("a.png", b"\x89PNG not really")}, headers=AUTH)
    return api.get(path, headers=AUTH)


@pytest.mark.parametrize(
    "task_id", [2**63 - 1, 2**63, 2**63 + 1, 2**64, 2**128 + 7, 2**256 - 1], ids=hex
)
@pytest.mark.parametrize(("method", "route"), TASK_ROUTES, ids=[r for _, r in TASK_ROUTES])
def test_task_ids_beyond_sqlite_range_are_404(
    api: httpx.Client, method: str, route: str, task_id: int
) -> None:
    response = _request(api, method, route.format(task_id))
    assert response.status_code == 404, response.text
    assert str(task_id) in response.json()["detail"]


@pytest.mark.parametrize("task_id", ["0", "-1", str(2**256), str(-(2**63) - 1), "1e3", "x"])
@pytest.mark.parametrize(("method", "route"), TASK_ROUTES, ids=[r for _, r in TASK_ROUTES])
def test_task_ids_that_cannot_exist_are_422(
    api: httpx.Client, method: str, route: str, task_id: str
) -> None:
    response = _request(api, method, route.format(task_id))
    assert response.status_code == 422, response.text
    assert "task_id" in response.json()["detail"]


def _png(mode: str, side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (side, side), 90).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _latencies_while(api: httpx.Client, paths: list[str], busy: threading.Event) -> list[float]:
    """Time requests to `paths` (round robin) until `busy` is cleared; at least one round."""
    seconds: list[float] = []
    while True:
        for path in paths:
            started = time.perf_counter()
            response = api.get(path)
            seconds.append(time.perf_counter() - started)
            assert response.status_code < 500, response.text
        if not busy.is_set():
            return seconds
        time.sleep(0.02)


def test_a_decompression_bomb_is_refused_before_decoding(
    api: httpx.Client, image_task: int
) -> None:
    """144 megapixels in ~18 KB: refused from its header (413) without blocking the API."""
    bomb = _png("1", 12_000)
    assert len(bomb) < 100_000  # under the node's upload byte limit: only the pixels are big
    busy = threading.Event()
    busy.set()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(api.post, f"/tasks/{image_task}/verify", files={"file": bomb})
        future.add_done_callback(lambda _: busy.clear())
        time.sleep(0.05)
        latencies = _latencies_while(api, ["/health", f"/tasks/{image_task}/opening"], busy)
        response = future.result()
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "12000x12000 = 144000000 pixels" in detail and str(MAX_VERIFY_PIXELS) in detail
    assert latencies  # the API answered meanwhile (refused from the header: nothing decoded)


def test_heavy_uploads_do_not_block_the_api(
    api: httpx.Client, image_task: int, honest_nodes: list[NodeProcess]
) -> None:
    """Uploads at the pixel limit are decoded in worker threads: /health and a peer's
    /tasks/{id}/opening keep answering quickly while they are digested."""
    side = int(MAX_VERIFY_PIXELS**0.5)
    heavy = _png("RGB", side)
    assert len(heavy) < 100_000
    opening = f"/tasks/{image_task}/opening"
    assert api.get(opening).status_code == 200  # node 0 committed, the task is resolved
    busy = threading.Event()
    busy.set()
    uploads = 6
    with ThreadPoolExecutor(uploads) as pool:
        futures = [
            pool.submit(api.post, f"/tasks/{image_task}/verify", files={"file": heavy})
            for _ in range(uploads)
        ]
        remaining = [uploads]
        lock = threading.Lock()

        def _done(_: object) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    busy.clear()

        for future in futures:
            future.add_done_callback(_done)
        time.sleep(0.1)
        started = time.perf_counter()
        latencies = _latencies_while(api, ["/health", opening], busy)
        busy_for = time.perf_counter() - started
        results = [future.result() for future in futures]
    for response in results:
        assert response.status_code == 200, response.text
        assert response.json()["match"] is False  # a flat grey square is not the artifact
    assert len(latencies) >= 2 and busy_for > 0.2, (latencies, busy_for)
    # Relative, not a wall-clock bound (the runner may be loaded): decoding on the event loop made
    # a request wait for every decode, about as long as the uploads took together.
    assert max(latencies) < busy_for / 2, (latencies, busy_for)
