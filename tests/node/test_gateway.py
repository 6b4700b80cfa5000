"""The HTTP gateway (`genoracle gateway run`): a client with an API key and no wallet requests a
generation, the gateway pays, the client reads the result and the verified artifact.

The gateway runs as a real process against a real Anvil with real node processes serving the
tasks. Attackers: a request without a key or with a wrong one (nothing is spent), a key firing
concurrent requests to spend past its limit (the ledger reserves before sending, so exactly the
requests that fit go through, and the gateway's balance drops by exactly what the ledger says).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from eth_account import Account
from fastapi.testclient import TestClient
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, TEXT_INPUT, TEXT_MODEL

from oracle.cli import main
from oracle.config import load_gateway_config
from oracle.dev.localnet import GENORACLE, NodeProcess, OracleChain, free_port, wait_until
from oracle.errors import ConfigError, StoreError
from oracle.gateway.app import create_app
from oracle.gateway.keys import key_sha256
from oracle.gateway.runtime import build_gateway

ALICE = "alice-test-key-0123456789"
CAPPED = "capped-test-key-0123456789"
SLOW = "slow-test-key-0123456789"
TEXT_ONLY = "text-only-test-key-0123456789"
CAPPED_SPEND_ETH = 0.008
"""Fits two requests of a 3-member committee (fee 0.003 ETH + gas each), never three."""

ROUTES = (
    "/health",
    "/v1/tasks",
    "/v1/tasks/{task_id}",
    "/v1/tasks/{task_id}/artifact",
    "/v1/usage",
    "/v1/models",
)


def gateway_toml(net: OracleChain, data_dir: Path, port: int, key_env: str) -> str:
    return f"""
[chain]
rpc_url = "{net.rpc_url}"
oracle_address = "{net.deployment.oracle}"
start_block = {net.deployment.block_number}

[account]
private_key_env = "{key_env}"

[gateway]
port = {port}
data_dir = "{data_dir}"
models = ["{IMAGE_MODEL}", "{TEXT_MODEL}"]

[gateway.keys.alice]
key_env = "ALICE_API_KEY"
tasks_per_minute = 30
spend_per_day_eth = 1

[gateway.keys.capped]
key_sha256 = "{key_sha256(CAPPED)}"
tasks_per_minute = 100
spend_per_day_eth = {CAPPED_SPEND_ETH}

[gateway.keys.slow]
key_sha256 = "{key_sha256(SLOW)}"
tasks_per_minute = 2

[gateway.keys.text-only]
key_sha256 = "{key_sha256(TEXT_ONLY)}"
models = ["{TEXT_MODEL}"]
"""


@pytest.fixture(scope="module")
def gateway(
    honest_net: OracleChain,
    honest_nodes: list[NodeProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    """`genoracle gateway run` paying from Anvil account 9."""
    root = tmp_path_factory.mktemp("gateway")
    port = free_port()
    config = root / "gateway.toml"
    config.write_text(gateway_toml(honest_net, root / "data", port, "GATEWAY_PRIVATE_KEY"))
    env = dict(
        os.environ,
        GATEWAY_PRIVATE_KEY=honest_net.anvil.accounts()[9].key.hex(),
        ALICE_API_KEY=ALICE,
        PYTHONUNBUFFERED="1",
    )
    log = root / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [GENORACLE, "gateway", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 120, "the gateway to answer /health")
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)


def key(value: str) -> dict[str, str]:
    return {"X-API-Key": value}


def gateway_balance(net: OracleChain) -> int:
    return net.client().balance(net.anvil.accounts()[9].address)


def wait_resolved(gateway: httpx.Client, task_id: int, api_key: str = ALICE) -> dict[str, Any]:
    def resolved() -> dict[str, Any] | None:
        body: dict[str, Any] = gateway.get(f"/v1/tasks/{task_id}", headers=key(api_key)).json()
        return body if body["status"] != "open" and body["status"] != "drawing" else None

    result: dict[str, Any] = wait_until(resolved, 180, f"task {task_id} to be final", 0.25)
    return result


def test_a_client_requests_an_image_and_gets_the_verified_artifact(
    gateway: httpx.Client, honest_net: OracleChain
) -> None:
    before = gateway_balance(honest_net)
    posted = gateway.post(
        "/v1/tasks", headers=key(ALICE), json={"model": IMAGE_MODEL, "input": IMAGE_INPUT}
    )
    assert posted.status_code == 201, posted.text
    submitted = posted.json()
    task_id = submitted["task_id"]
    assert submitted["fee_wei"] == honest_net.requester_client().minimum_fee(3)
    assert submitted["gas_wei"] > 0 and submitted["tx_hash"].startswith("0x")
    assert gateway_balance(honest_net) == before - submitted["fee_wei"] - submitted["gas_wei"]

    result = wait_resolved(gateway, task_id)
    assert result["status"] == "resolved" and result["support"] == 3
    assert result["requester"] == honest_net.anvil.accounts()[9].address
    artifact = gateway.get(f"/v1/tasks/{task_id}/artifact", headers=key(ALICE))
    assert artifact.status_code == 200 and artifact.headers["content-type"] == "image/png"
    assert artifact.headers["x-genoracle-digest"] == result["digest"]
    assert artifact.headers["x-genoracle-distances"] == "0/0/0/0"

    listed = gateway.get("/v1/tasks", headers=key(ALICE)).json()
    assert listed[0]["task_id"] == task_id
    assert listed[0]["cost_wei"] == submitted["fee_wei"] + submitted["gas_wei"]
    usage = gateway.get("/v1/usage", headers=key(ALICE)).json()
    assert usage["key"] == "alice" and usage["tasks_last_minute"] >= 1
    assert usage["spent_last_day_wei"] >= listed[0]["cost_wei"]
    # Another key does not see alice's tasks.
    other = gateway.get(f"/v1/tasks/{task_id}", headers=key(SLOW))
    assert other.status_code == 404 and "not submitted with this API key" in other.text


def test_a_text_task_over_the_gateway(gateway: httpx.Client) -> None:
    posted = gateway.post(
        "/v1/tasks",
        headers=key(TEXT_ONLY),
        json={"model": TEXT_MODEL, "input": TEXT_INPUT, "committee_size": 3},
    )
    assert posted.status_code == 201, posted.text
    task_id = posted.json()["task_id"]
    result = wait_resolved(gateway, task_id, TEXT_ONLY)
    assert result["status"] == "resolved"
    artifact = gateway.get(f"/v1/tasks/{task_id}/artifact", headers=key(TEXT_ONLY))
    assert artifact.status_code == 200 and artifact.headers["content-type"].startswith("text/")
    assert artifact.headers["x-genoracle-token-ids"]
    models = gateway.get("/v1/models", headers=key(TEXT_ONLY)).json()
    assert [(m["name"], m["kind"], m["registered"]) for m in models] == [(TEXT_MODEL, "text", True)]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing API key: send it in the X-API-Key header"),
        (key(""), "missing API key"),
        (key("guess"), "unknown API key"),
        (key(ALICE[:-1]), "unknown API key"),
        (key(ALICE + "x"), "unknown API key"),
        (key(key_sha256(ALICE)), "unknown API key"),  # the hash in the config is not the key
    ],
)
def test_a_request_without_a_valid_key_is_refused_and_costs_nothing(
    gateway: httpx.Client, honest_net: OracleChain, headers: dict[str, str], reason: str
) -> None:
    before = gateway_balance(honest_net)
    body = {"model": IMAGE_MODEL, "input": IMAGE_INPUT}
    for method, path in (
        ("POST", "/v1/tasks"),
        ("GET", "/v1/tasks"),
        ("GET", "/v1/tasks/1"),
        ("GET", "/v1/tasks/1/artifact"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/models"),
    ):
        response = gateway.request(method, path, headers=headers, json=body)
        assert response.status_code == 401, (path, response.text)
        assert reason in response.json()["detail"]
    assert gateway_balance(honest_net) == before


@pytest.mark.parametrize(
    ("api_key", "body", "status", "reason"),
    [
        (ALICE, {"model": "nope", "input": IMAGE_INPUT}, 422, "unknown model 'nope'"),
        (ALICE, {"model": "/etc", "input": IMAGE_INPUT}, 422, "this gateway serves tiny-sd"),
        (
            ALICE,
            {"model": IMAGE_MODEL, "input": {"prompt": "x", "width": 65}},
            422,
            "input rejected by tiny-sd's schema",
        ),
        (ALICE, {"model": IMAGE_MODEL, "input": "not json"}, 422, "input rejected"),
        (ALICE, {"model": IMAGE_MODEL, "input": {"prompt": 5}}, 422, "input rejected"),
        (
            ALICE,
            {"model": IMAGE_MODEL, "input": IMAGE_INPUT, "committee_size": 4},
            422,
            "committee_size 4: must be odd, from 3 to 7",
        ),
        (
            ALICE,
            {"model": IMAGE_MODEL, "input": IMAGE_INPUT, "committee_size": 5},
            422,
            "NotEnoughOperators",
        ),
        (
            ALICE,
            {"model": IMAGE_MODEL, "input": IMAGE_INPUT, "tolerance": [0]},
            422,
            "tolerance 0/0/0/0 is below 4/14/14/14",
        ),
        (
            ALICE,
            {
                "model": IMAGE_MODEL,
                "input": {**IMAGE_INPUT, "guidance": 20.0},
                "tolerance": [4, 14, 14, 14],
            },
            422,
            "what honest re-runs of this input need",
        ),
        (
            ALICE,
            {"model": IMAGE_MODEL, "input": IMAGE_INPUT, "tolerance": [300]},
            422,
            "outside 0..255",
        ),
        (ALICE, {"input": IMAGE_INPUT}, 422, "model: Field required"),
        (TEXT_ONLY, {"model": IMAGE_MODEL, "input": IMAGE_INPUT}, 403, "may not use model"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason_and_cost_nothing(
    gateway: httpx.Client,
    honest_net: OracleChain,
    api_key: str,
    body: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    before = gateway_balance(honest_net)
    response = gateway.post("/v1/tasks", headers=key(api_key), json=body)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert gateway_balance(honest_net) == before


def test_a_key_cannot_spend_past_its_limit_even_all_at_once(
    gateway: httpx.Client, honest_net: OracleChain
) -> None:
    before = gateway_balance(honest_net)
    request = {"model": IMAGE_MODEL, "input": IMAGE_INPUT}
    with ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(
                lambda _: gateway.post("/v1/tasks", headers=key(CAPPED), json=request), range(6)
            )
        )
    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(accepted) == 2, [r.text for r in responses]
    for response in refused:
        assert response.status_code == 429
        assert "spend limit of API key 'capped'" in response.json()["detail"]
    spent = sum(task["fee_wei"] + task["gas_wei"] for task in accepted)
    assert spent <= CAPPED_SPEND_ETH * 10**18
    assert gateway_balance(honest_net) == before - spent  # the ledger's sum is what was paid
    usage = gateway.get("/v1/usage", headers=key(CAPPED)).json()
    assert usage["spent_last_day_wei"] == spent
    assert usage["spend_per_day_wei"] == int(CAPPED_SPEND_ETH * 10**18)


def test_a_key_over_its_rate_is_told_when_to_retry(gateway: httpx.Client) -> None:
    request = {"model": IMAGE_MODEL, "input": IMAGE_INPUT}
    for _ in range(2):
        assert gateway.post("/v1/tasks", headers=key(SLOW), json=request).status_code == 201
    third = gateway.post("/v1/tasks", headers=key(SLOW), json=request)
    assert third.status_code == 429
    assert "rate limit of API key 'slow': 2 tasks per minute" in third.json()["detail"]
    assert 1 <= int(third.headers["retry-after"]) <= 61


def test_openapi_documents_every_route_its_key_and_its_errors(gateway: httpx.Client) -> None:
    schema = gateway.get("/openapi.json").json()
    assert set(ROUTES) <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if path.startswith("/v1"):
                assert "401" in operation["responses"] and "422" in operation["responses"]
                assert operation["security"] == [{"APIKeyHeader": []}]
    post = schema["paths"]["/v1/tasks"]["post"]
    assert {"201", "402", "403", "429"} <= set(post["responses"])
    assert "TaskRequest" in str(post["requestBody"])


def test_an_unfunded_gateway_refuses_with_a_reason(honest_net: OracleChain, tmp_path: Path) -> None:
    config_path = tmp_path / "gateway.toml"
    config_path.write_text(gateway_toml(honest_net, tmp_path / "data", 0, "UNUSED"))
    config = load_gateway_config(config_path)
    poor = Account.create()
    built = build_gateway(config, poor, environ={"ALICE_API_KEY": ALICE})
    with TestClient(create_app(built)) as client:
        response = client.post(
            "/v1/tasks", headers=key(ALICE), json={"model": IMAGE_MODEL, "input": IMAGE_INPUT}
        )
        assert response.status_code == 402, response.text
        detail = response.json()["detail"]
        assert f"the gateway's account {poor.address} cannot pay this request" in detail
        assert "must fund it" in detail
        assert client.get("/v1/usage", headers=key(ALICE)).json()["spent_last_day_wei"] == 0
    built.ledger.close()

    # The ledger belongs to that account: another one is refused on it.
    with pytest.raises(StoreError, match="belongs to account"):
        build_gateway(config, honest_net.anvil.accounts()[8], environ={"ALICE_API_KEY": ALICE})


def test_gateway_configuration_errors_name_the_key(honest_net: OracleChain, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("[chain]\n")
    with pytest.raises(ConfigError, match="gateway: required but missing"):
        load_gateway_config(path)
    path.write_text("[gateway]\nmodels = ['tiny-sd']\n")
    with pytest.raises(ConfigError, match=r"gateway.keys = \{\}: no API keys"):
        load_gateway_config(path)
    path.write_text("[gateway.keys.a]\nkey_sha256 = 'ab'\n")
    with pytest.raises(ConfigError, match="must be 64 hex digits"):
        load_gateway_config(path)
    path.write_text(f"[gateway.keys.a]\nkey_sha256 = '{'a' * 64}'\nkey_env = 'X'\n")
    with pytest.raises(ConfigError, match="exactly one of key_sha256 or key_env"):
        load_gateway_config(path)
    path.write_text(gateway_toml(honest_net, tmp_path / "data", 0, "UNUSED"))
    with pytest.raises(ConfigError, match="environment variable ALICE_API_KEY is not set"):
        build_gateway(load_gateway_config(path), Account.create(), environ={})
    text = gateway_toml(honest_net, tmp_path / "data", 0, "UNUSED").replace(
        f'models = ["{TEXT_MODEL}"]', 'models = ["digits"]'
    )
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"names \['digits'\], which gateway.models"):
        build_gateway(load_gateway_config(path), Account.create(), environ={"ALICE_API_KEY": "k"})


def test_new_key_prints_a_key_and_its_config_table() -> None:
    result = CliRunner().invoke(main, ["gateway", "new-key", "bob"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    api_key = lines[1].strip()
    assert api_key.startswith("go_") and len(api_key) > 40
    assert "[gateway.keys.bob]" in lines
    assert f'key_sha256 = "{key_sha256(api_key)}"' in lines


def test_the_example_configuration_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "oracle" / "gateway.example.toml"
    config = load_gateway_config(example, environ={})
    assert config.gateway.port == 8800 and config.gateway.models == [IMAGE_MODEL, TEXT_MODEL]
    assert config.gateway.keys["example"].spend_per_day_eth == 0.1
