"""Reaching an Ethereum JSON-RPC endpoint, and saying plainly when a URL is not one.

A URL that answers HTTP but not JSON-RPC (a web page, a node's own API, a typo in the path)
surfaced as a JSON decoding traceback, or as "unreachable" after retries; `misfit` names it, and
every caller (the deploy commands here, the oracle's chain client) reports it in one line.
"""

from __future__ import annotations

import json

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import BadResponseFormat, ProviderConnectionError

from deploy.errors import DeploymentError

#: Statuses a JSON-RPC server does not answer to a well-formed POST: not an RPC at that path.
_NOT_RPC_STATUSES = (404, 405, 406, 415, 501)
_REFUSED_STATUSES = (401, 403)
_FIX = "check --rpc-url or chain.rpc_url (`genoracle chain up` serves http://127.0.0.1:8545)"


def misfit(rpc_url: str, exc: BaseException) -> str | None:
    """Why `exc`, raised by a JSON-RPC request to `rpc_url`, shows that the URL is no usable
    Ethereum JSON-RPC endpoint (one line naming the fix), or None for any other failure."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in _NOT_RPC_STATUSES:
            return (
                f"{rpc_url} is not an Ethereum JSON-RPC endpoint (it answered HTTP {status} "
                f"to a JSON-RPC request); {_FIX}"
            )
        if status in _REFUSED_STATUSES:
            return (
                f"the RPC at {rpc_url} refused the request (HTTP {status}): check the API key "
                "or credentials in the URL"
            )
        return None
    if isinstance(exc, json.JSONDecodeError | BadResponseFormat):
        return (
            f"{rpc_url} is not an Ethereum JSON-RPC endpoint (it answered with something that "
            f"is not JSON-RPC); {_FIX}"
        )
    return None


def connect(rpc_url: str, timeout_s: float = 30.0) -> Web3:
    """A Web3 connected to `rpc_url`, after one request that proves it is an Ethereum RPC."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    try:
        w3.eth.chain_id  # noqa: B018 (the probe)
    except (
        requests.ConnectionError,
        requests.Timeout,
        ProviderConnectionError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise DeploymentError(
            f"cannot reach an Ethereum RPC at {rpc_url} ({type(exc).__name__}): is the node "
            f"running? {_FIX}"
        ) from None
    except Exception as exc:
        reason = misfit(rpc_url, exc)
        if reason is None:
            raise
        raise DeploymentError(reason) from None
    return w3
