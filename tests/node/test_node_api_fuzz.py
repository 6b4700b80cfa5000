"""Schemathesis fuzzing of a live node's OpenAPI: every operation, valid and invalid requests,
no 5xx and no response that violates the published schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from oracle_testlib import TEXT_INPUT, TEXT_MODEL
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oracle.dev.localnet import API_TOKEN, NodeProcess, OracleChain

MAX_EXAMPLES = 30  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# Writes that would change the shared network's state for other tests run without the token.
NO_TOKEN = {("POST", "/operator/claim")}


@pytest.fixture(scope="module")
def node_url(honest_net: OracleChain, honest_nodes: list[NodeProcess]) -> str:
    # One resolved task, so that small ids also reach the "exists" branches.
    client = honest_net.requester_client()
    task = client.submit(TEXT_MODEL, TEXT_INPUT)
    client.wait(task.task_id, timeout_s=120)
    return honest_nodes[0].api_url


@pytest.fixture(scope="module")
def schema(node_url: str) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{node_url}/openapi.json", timeout=30)
    loaded.config.base_url = node_url
    return loaded


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    node_url: str,
    headers: dict[str, str],
) -> None:
    """Run MAX_EXAMPLES generated requests against one operation; raises on the first failure."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=node_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_node_api_fuzz(
    schema: schemathesis.BaseSchema, node_url: str, mode: schemathesis.GenerationMode
) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        headers = {} if key in NO_TOKEN else {"Authorization": f"Bearer {API_TOKEN}"}
        try:
            _fuzz(operation, mode, node_url, headers)
        except Unsatisfiable:
            # No parameters, no body: nothing can be made invalid (GET /health, /metrics, ...).
            assert mode == schemathesis.GenerationMode.NEGATIVE, key
        except Exception as exc:  # one operation's failure must not hide another's
            failures.append(f"{key[0]} {key[1]} ({mode.value}): {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failure[:3000] for failure in failures)
