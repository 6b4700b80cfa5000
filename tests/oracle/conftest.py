"""Fixtures for the oracle tests: a local network (own Anvil, oracle, models, 3 operators) and
real node processes. Each end-to-end module gets its own chain, so no test sees another's tasks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_testlib import MODELS, start_nodes

from oracle.localnet import NodeProcess, OracleChain, oracle_chain


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain(MODELS, operators=3) as chain:
        yield chain


@pytest.fixture(scope="module")
def nodes(
    net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    started = start_nodes(net, tmp_path_factory.mktemp("nodes"))
    yield started
    for node in started:
        node.stop()
