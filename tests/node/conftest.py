"""Fixtures for the oracle tests: local networks (own Anvil, oracle, models, 3 operators) with
real node processes. The honest network is shared by the modules that only submit tasks; modules
that move the clock or kill nodes build their own."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from oracle_testlib import MODELS, image_chain, running_image_nodes, start_nodes

from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain, stop_nodes

LOG_TAIL_CHARS = 6_000
"""How much of each node's log a failing test's report carries."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report carries the log tail of every node process it used: a failure in
    CI (a task that never resolves) is then readable from the run's output alone."""
    report = yield
    if report.failed:
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        for name, value in funcargs.items():
            nodes = value if isinstance(value, list) else [value]
            for node in nodes:
                if isinstance(node, NodeProcess):
                    report.sections.append(
                        (f"node log ({name}, {node.address})", node.log()[-LOG_TAIL_CHARS:])
                    )
    return report


@pytest.fixture(scope="session")
def honest_net() -> Iterator[OracleChain]:
    with oracle_chain(MODELS, operators=3) as chain:
        yield chain


@pytest.fixture(scope="session")
def honest_nodes(
    honest_net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    started = start_nodes(
        honest_net, tmp_path_factory.mktemp("honest"), extra_api={"max_upload_bytes": 100_000}
    )
    yield started
    stop_nodes(started)


@pytest.fixture(scope="module")
def window_net(request: pytest.FixtureRequest) -> Iterator[OracleChain]:
    """A network serving the image model, its commit window the module's COMMIT_WINDOW."""
    with image_chain(request.module.COMMIT_WINDOW) as chain:
        yield chain


@pytest.fixture(scope="module")
def window_nodes(
    window_net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    """An honest image node process per operator of `window_net`."""
    with running_image_nodes(window_net, tmp_path_factory.mktemp("window")) as started:
        yield started
