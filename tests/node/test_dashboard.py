"""The operator dashboard at `/` of a real node process, rendered by a real headless Chromium
(Debian's `chromium`, driven by Playwright with `executable_path`): the stake and credit, the
models, a resolved image task with every member's per-lane distance and the image beside its
digest, a resolved text task with its text; the screenshots are not blank; nothing secret (the
node's salts, any digest before it is revealed) reaches the page or its state route.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, TEXT_INPUT, TEXT_MODEL
from PIL import Image

from oracle.dev.localnet import NodeProcess, OracleChain
from oracle.node.dashboard import add_dashboard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (make test does)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def resolved(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> dict[str, int]:
    client = honest_net.requester_client()
    image = client.submit(IMAGE_MODEL, {**IMAGE_INPUT, "prompt": "a dashboard lighthouse"})
    text = client.submit(TEXT_MODEL, {**TEXT_INPUT, "prompt": "The dashboard said"})
    for task in (image, text):
        assert client.wait(task.task_id, timeout_s=180).status == "resolved"
    return {"image": image.task_id, "text": text.task_id}


def _not_blank(png: bytes, min_colors: int) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    assert len(colors) >= min_colors, f"screenshot has only {len(colors)} colours"


def test_dashboard_renders_stake_resolved_tasks_and_image(
    browser: Any,
    honest_nodes: list[NodeProcess],
    resolved: dict[str, int],
    tmp_path: Path,
) -> None:
    node = honest_nodes[0]
    base = f"http://127.0.0.1:{node.api_port}"
    state = httpx.get(f"{base}/dashboard/state", timeout=30).json()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/", wait_until="load")
        image_row = f'tr[data-task="{resolved["image"]}"]'
        page.wait_for_selector(f"{image_row} img.artifact", timeout=30_000)
        page.wait_for_function(
            "s => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0 }",
            arg=f"{image_row} img.artifact",
            timeout=30_000,
        )
        text_row = f'tr[data-task="{resolved["text"]}"]'
        page.wait_for_function(
            "s => !document.querySelector(s).textContent.includes('...')",
            arg=f"{text_row} .text-artifact",
            timeout=30_000,
        )
        assert page.title() == "genoracle node"
        assert page.text_content("#operator") == node.account.address
        stake_eth = state["stake_wei"] / 10**18
        assert page.text_content("#stake") == f"{stake_eth:.6f} ETH"
        assert page.text_content("#credit").endswith(" ETH")
        assert page.text_content("#standing") == "active"
        assert IMAGE_MODEL in (page.text_content("#models") or "")
        assert TEXT_MODEL in (page.text_content("#models") or "")
        assert "live, updated" in (page.text_content("#live") or "")

        row_text = page.text_content(image_row) or ""
        assert "resolved" in row_text
        votes = page.locator(f"{image_row} .vote")
        assert votes.count() == 3
        for index in range(3):
            assert "distance 0/0/0/0 agrees" in votes.nth(index).text_content()
        digest = next(t["digest"] for t in state["recent"] if t["task_id"] == resolved["image"])
        assert page.get_attribute(f"{image_row} .digest", "title") == digest
        alt = page.get_attribute(f"{image_row} img.artifact", "alt") or ""
        assert digest in alt  # the image sits beside its digest
        assert (page.text_content(f"{text_row} .text-artifact") or "").strip()

        shot = page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        _not_blank(shot, min_colors=50)
        image_shot = page.locator(f"{image_row} img.artifact").screenshot(
            path=str(tmp_path / "artifact.png")
        )
        _not_blank(image_shot, min_colors=8)
        html = page.content()
    finally:
        page.close()

    # No secrets: the salts of this node's openings appear nowhere on the page or its state.
    for task_id in resolved.values():
        opening = httpx.get(f"{base}/tasks/{task_id}/opening", timeout=30).json()
        salt = opening["salt"]
        assert salt[2:] not in html
        assert salt[2:] not in httpx.get(f"{base}/dashboard/state", timeout=30).text


def test_dashboard_state_hides_digests_before_they_are_revealed(
    honest_net: OracleChain, honest_nodes: list[NodeProcess], resolved: dict[str, int]
) -> None:
    """A task still drawing or committing shows no digest and no artifact."""
    client = honest_net.requester_client()
    task = client.submit(IMAGE_MODEL, {**IMAGE_INPUT, "prompt": "a secret in the making"})
    base = f"http://127.0.0.1:{honest_nodes[0].api_port}"
    for _ in range(20):
        state = httpx.get(f"{base}/dashboard/state", timeout=30).json()
        for row in state["recent"]:
            if row["phase"] in ("draw", "commit"):
                assert row["artifact"] is None
                assert all(vote["digest"] is None for vote in row["votes"])
    assert client.wait(task.task_id, timeout_s=180).status == "resolved"


def test_dashboard_serves_its_page_and_assets_and_nothing_else() -> None:
    app = FastAPI()
    add_dashboard(app, None, None, None)  # type: ignore[arg-type]  # the static routes only
    http = TestClient(app)
    assert "genoracle node" in http.get("/").text
    script = http.get("/dashboard/assets/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert http.get("/dashboard/assets/secrets.txt").status_code == 404
