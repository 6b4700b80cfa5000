"""Build the gateway from its configuration and serve it (`genoracle gateway run`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from eth_account.signers.local import LocalAccount

from oracle.chain.client import ChainClient
from oracle.config import GatewayConfig
from oracle.gateway.keys import KeyRing
from oracle.gateway.ledger import Ledger
from oracle.gateway.service import Gateway
from oracle.sdk.client import OracleClient

log = logging.getLogger(__name__)


def build_gateway(
    config: GatewayConfig, account: LocalAccount, environ: Mapping[str, str] | None = None
) -> Gateway:
    """The gateway's parts: its paying client, its ledger under `gateway.data_dir`, its keys."""
    keys = KeyRing(config.gateway.keys, environ)
    chain = ChainClient(config.chain, account)
    client = OracleClient(chain, start_block=config.chain.start_block or 0)
    ledger = Ledger(config.gateway.data_dir / "gateway.sqlite3")
    try:
        return Gateway(client, ledger, keys, config.gateway)
    except BaseException:
        ledger.close()
        raise


def serve(gateway: Gateway, host: str, port: int) -> None:
    """Serve the gateway's HTTP API until stopped (Ctrl-C, SIGTERM)."""
    import uvicorn

    from oracle.gateway.app import create_app

    log.info(
        "gateway for oracle %s paying from %s on http://%s:%d (keys: %s)",
        gateway.client.chain.address,
        gateway.account,
        host,
        port,
        ", ".join(gateway.keys.names()),
    )
    uvicorn.run(create_app(gateway), host=host, port=port, log_level="warning", access_log=False)
