"""The one place that talks to the chain: reads with retries, sends with a lock, decodes reverts.

Sending follows a fixed recipe: under the account's lock, simulate the call (eth_call) so a revert
surfaces as a named exception before any gas is spent, estimate gas, price it EIP-1559 style, take
the RPC's pending nonce (authoritative after restarts and reorgs, unlike a local counter), sign,
let the caller persist the transaction hash, then broadcast. Transient RPC failures (connection
refused, timeouts, 5xx) are retried with exponential backoff and end in `ChainUnavailableError`.

Long module: the read path and the send path share one connection, one send lock and one
retry policy; apart, each would need the other's internals.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import requests
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.conversions import to_hex
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    ProviderConnectionError,
    TransactionNotFound,
)
from web3.types import BlockData, BlockIdentifier, EventData, RPCEndpoint, TxReceipt

from deploy.deployer import load_deployment
from deploy.errors import DeploymentError
from deploy.fees import fee_caps
from deploy.rpc import misfit
from oracle.chain.abi_codec import AbiCodec
from oracle.chain.contract import ORACLE_CONTRACT, REGISTRY_CONTRACT, load_abi
from oracle.chain.reverts import ContractRevertError, RevertDecoder
from oracle.chain.rpc_transport import JsonRpcTransport
from oracle.config import ChainSettings
from oracle.errors import ChainError, ChainUnavailableError, TransactionFailedError

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
)
_SEND_LOCKS: dict[str, threading.Lock] = {}
_SEND_LOCKS_GUARD = threading.Lock()


def send_lock(address: str) -> threading.Lock:
    """One lock per account in this process: two sends never race for the same nonce."""
    with _SEND_LOCKS_GUARD:
        return _SEND_LOCKS.setdefault(address.lower(), threading.Lock())


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in (429, 502, 503, 504) or exc.response.status_code >= 500
    return False


def _rpc_session() -> requests.Session:
    """A session that does not re-read the environment on every request: requests scans
    os.environ for proxies each time it sends (a tenth of a busy node's CPU); the environment's
    proxies and CA bundle are read once instead (`_request_settings`)."""
    session = requests.Session()
    session.trust_env = False
    return session


def _request_settings(settings: ChainSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "timeout": settings.rpc_timeout_s,
        "proxies": requests.utils.get_environ_proxies(settings.rpc_url),
    }
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        kwargs["verify"] = bundle
    return kwargs


@dataclass(frozen=True)
class SentTransaction:
    """A broadcast transaction: its hash and the nonce it used."""

    tx_hash: str
    nonce: int
    function: str


class ChainClient:
    """Bindings to the deployed oracle plus the send/read machinery around them."""

    def __init__(
        self,
        settings: ChainSettings,
        account: LocalAccount | None = None,
        *,
        oracle_address: str | None = None,
        abi: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.account = account
        provider = HTTPProvider(
            settings.rpc_url,
            request_kwargs=_request_settings(settings),
            session=_rpc_session(),
            exception_retry_configuration=None,  # retries are ours, with our backoff
        )
        self.w3 = Web3(provider)
        # The hot paths' raw requests skip the requests stack, unless a proxy must be honoured.
        proxied = bool(requests.utils.get_environ_proxies(settings.rpc_url))
        self._transport = (
            None if proxied else JsonRpcTransport(settings.rpc_url, settings.rpc_timeout_s)
        )
        self.chain_id: int = self.rpc(lambda: int(self.w3.eth.chain_id), "read chain id")
        if settings.chain_id is not None and settings.chain_id != self.chain_id:
            raise ChainError(
                f"chain.chain_id is {settings.chain_id}, but the RPC at {settings.rpc_url} serves "
                f"chain {self.chain_id}: point chain.rpc_url (--rpc-url) at chain "
                f"{settings.chain_id}, or pin chain {self.chain_id}"
            )
        address = oracle_address or settings.oracle_address
        if address is None:
            try:
                address = load_deployment(self.chain_id, settings.deployments_dir).oracle
            except DeploymentError as exc:
                raise DeploymentError(f"{exc}, or set chain.oracle_address (--oracle)") from None
        self.abi = list(abi) if abi is not None else load_abi(ORACLE_CONTRACT)
        self.oracle: Contract = self.w3.eth.contract(
            address=to_checksum_address(address), abi=self.abi
        )
        self.address: str = str(self.oracle.address)
        code = self.rpc(lambda: self.w3.eth.get_code(self.oracle.address), "read contract code")
        if not code:
            raise ChainError(
                f"no contract at {self.address} on chain {self.chain_id} ({settings.rpc_url}): "
                "check chain.oracle_address (--oracle) or the deployment record, or deploy "
                "again (a restarted local chain has lost its contracts)"
            )
        self.decoder = RevertDecoder(self.abi)
        self.codec = AbiCodec(self.abi)
        self._latest_block: tuple[float, Any] | None = None  # (monotonic time, block)
        self._tip: tuple[float, int] | None = None
        self._registry: ChainClient | None = None

    def registry(self) -> ChainClient:
        """A client of the oracle's model registry (same RPC and account)."""
        if self._registry is None:
            address = str(self.oracle.functions.models().call())
            self._registry = ChainClient(
                self.settings,
                self.account,
                oracle_address=address,
                abi=load_abi(REGISTRY_CONTRACT),
            )
        return self._registry

    # -- reads -------------------------------------------------------------------------------

    def rpc(self, request: Callable[[], T], what: str) -> T:
        """Run one RPC request, retrying transient failures with exponential backoff."""
        delay = self.settings.retry_backoff_s
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return request()
            except Exception as exc:
                reason = misfit(self.settings.rpc_url, exc)
                if reason is not None:
                    raise ChainError(f"{what}: {reason}") from None
                if not _is_transient(exc):
                    raise
                if attempt == attempts:
                    raise ChainUnavailableError(
                        f"{what}: RPC {self.settings.rpc_url} unreachable after {attempts} "
                        f"attempts ({type(exc).__name__})"
                    ) from None
                log.debug("%s: transient RPC error (%s), retry in %.2fs", what, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def request(self, method: str, params: list[Any], what: str, function: str = "") -> Any:
        """One raw JSON-RPC request (no web3 middleware: the node's hot paths make many), with
        retries; an error answer raises its decoded revert, or ChainError."""
        transport = self._transport
        response: Mapping[str, Any]
        if transport is not None:
            response = self.rpc(lambda: transport.request(method, params), what)
        else:
            response = self.rpc(
                lambda: dict(self.w3.provider.make_request(RPCEndpoint(method), params)), what
            )
        if "error" in response:
            error = response["error"]
            revert_data = error.get("data") if isinstance(error, dict) else None
            if isinstance(revert_data, str) and revert_data.startswith("0x"):
                raise self.decoder.decode(revert_data, context=function)
            raise ChainError(f"{what}: the node answered {error}")
        return response["result"]

    def view(self, function: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
        """Call a view function; struct results come back as dicts keyed by field name."""
        layout = self.codec.function(function)
        block_param = hex(block) if isinstance(block, int) else block
        call = {"to": self.address, "data": layout.encode(args)}
        result = self.request("eth_call", [call, block_param], f"call {function}", function)
        if layout.output_types and result in (None, "0x"):
            raise ChainError(
                f"call {function}: the contract at {self.address} returned nothing: it is not "
                "the contract this call expects; check chain.oracle_address (--oracle)"
            )
        return layout.decode(result)

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber", [], "read block number"), 16)

    def head(self) -> BlockData:
        """The latest block: its number, hash, parent hash, timestamp and base fee only."""
        raw = self.request("eth_getBlockByNumber", ["latest", False], "read head")
        block = cast(
            BlockData,
            {
                "number": int(raw["number"], 16),
                "hash": HexBytes(raw["hash"]),
                "parentHash": HexBytes(raw["parentHash"]),
                "timestamp": int(raw["timestamp"], 16),
                "baseFeePerGas": int(raw.get("baseFeePerGas") or "0x0", 16),
            },
        )
        self._latest_block = (time.monotonic(), block)
        return block

    def block_timestamp(self, block: BlockIdentifier = "latest") -> int:
        return self.rpc(lambda: int(self.w3.eth.get_block(block)["timestamp"]), "read block")

    def balance(self, address: str) -> int:
        return self.rpc(
            lambda: int(self.w3.eth.get_balance(to_checksum_address(address))), "read balance"
        )

    def logs(
        self, from_block: int, to_block: int, topics: list[Any] | None = None
    ) -> list[EventData]:
        """The oracle's decoded logs in [from_block, to_block], in chain order."""
        params: dict[str, Any] = {
            "address": self.address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
        }
        if topics is not None:
            params["topics"] = topics
        raw = self.request("eth_getLogs", [params], "read logs")
        return [decoded for decoded in (self.decode_log(item) for item in raw) if decoded]

    def decode_log(self, raw: Any) -> EventData | None:
        """An oracle log decoded (raw JSON or a receipt's log), None if no event matches."""
        return self.codec.decode_log(raw)

    def event_topic(self, name: str) -> str:
        return to_hex(HexBytes(self.oracle.events[name]().topic))

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt if the transaction is mined, else None (never waits)."""
        try:
            return self.rpc(
                lambda: self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)), "read receipt"
            )
        except TransactionNotFound:
            return None

    def is_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction at all (mined or in its mempool)."""
        try:
            self.rpc(lambda: self.w3.eth.get_transaction(HexBytes(tx_hash)), "read transaction")
        except TransactionNotFound:
            return False
        return True

    def is_confirmed(self, receipt: TxReceipt) -> bool:
        """Enough blocks on top of the receipt's block (always true with 0 confirmations)."""
        if self.settings.confirmations == 0:
            return True
        return self.block_number() - int(receipt["blockNumber"]) >= self.settings.confirmations

    def wait_for_receipt(
        self, tx_hash: str, timeout_s: float = 120.0, poll_s: float = 0.05
    ) -> TxReceipt:
        deadline = time.monotonic() + timeout_s
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None and self.is_confirmed(receipt):
                return receipt
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {tx_hash} not mined within {timeout_s:.0f} s")
            time.sleep(poll_s)

    # -- writes ------------------------------------------------------------------------------

    def _require_account(self) -> LocalAccount:
        if self.account is None:
            raise ChainError("this client has no signing account; configure [account]")
        return self.account

    def simulate(self, function: str, *args: Any, value: int = 0, sender: str | None = None) -> Any:
        """eth_call the function as the sender, in the pending block (where a transaction sent
        now lands: e.g. a commit that draws its task needs the request's block to be sealed);
        a revert raises its named exception."""
        layout = self.codec.function(function)
        call = self._call_params(layout.encode(args), value, sender)
        return layout.decode(
            self.request("eth_call", [call, "pending"], f"simulate {function}", function)
        )

    def _call_params(self, data: str, value: int, sender: str | None = None) -> dict[str, str]:
        account = sender or self._require_account().address
        return {"from": account, "to": self.address, "data": data, "value": hex(value)}

    def _fees(self) -> dict[str, int]:
        """EIP-1559 fees: maxFee = 2 x base fee + tip, so a few full blocks cannot price us out.

        The base fee comes from the head block if it was read in the last second (the node's
        listener reads it every poll), the tip from the node at most every 10 s.
        """
        now = time.monotonic()
        if self._latest_block is not None and now - self._latest_block[0] < 1.0:
            latest = self._latest_block[1]
        else:
            latest = self.rpc(lambda: self.w3.eth.get_block("latest"), "read base fee")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        if self.settings.priority_fee_gwei is not None:
            tip = int(self.settings.priority_fee_gwei * 10**9)
        elif self._tip is not None and now - self._tip[0] < 10.0:
            tip = self._tip[1]
        else:
            tip = self.rpc(lambda: int(self.w3.eth.max_priority_fee), "read priority fee")
            self._tip = (now, tip)
        cap = None
        if self.settings.max_fee_gwei is not None:
            cap = int(self.settings.max_fee_gwei * 10**9)
            if base_fee + tip > cap:
                raise ChainError(
                    f"base fee {base_fee} wei + tip {tip} wei exceeds chain.max_fee_gwei "
                    f"({self.settings.max_fee_gwei} gwei); not sending"
                )
        max_fee, priority_fee = fee_caps(base_fee, tip, cap)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority_fee}

    def send(
        self,
        function: str,
        *args: Any,
        value: int = 0,
        before_broadcast: Callable[[str], None] | None = None,
        gas_floor: int = 0,
    ) -> SentTransaction:
        """Simulate, sign and broadcast; `before_broadcast(tx_hash)` runs before it leaves.

        `gas_floor` covers calls whose cost depends on what lands first: a reveal estimated as
        "not the last" may be mined as the last one, which resolves the task (more gas).
        """
        account = self._require_account()
        layout = self.codec.function(function)
        data = layout.encode(args)
        call = self._call_params(data, value)
        with send_lock(account.address):
            self.simulate(function, *args, value=value)
            estimate = int(
                self.request(
                    "eth_estimateGas", [call, "pending"], f"estimate {function}", function
                ),
                16,
            )
            nonce = int(
                self.request("eth_getTransactionCount", [account.address, "pending"], "read nonce"),
                16,
            )
            tx = {
                "to": self.address,
                "data": data,
                "value": value,
                "nonce": nonce,
                "gas": max(int(estimate * self.settings.gas_limit_multiplier), gas_floor),
                "chainId": self.chain_id,
                "type": 2,
                **self._fees(),
            }
            signed = account.sign_transaction(cast(dict[str, Any], tx))
            tx_hash = to_hex(signed.hash)
            if before_broadcast is not None:
                before_broadcast(tx_hash)
            try:
                self.request(
                    "eth_sendRawTransaction",
                    [to_hex(signed.raw_transaction)],
                    f"send {function}",
                )
            except ChainError as exc:
                if "already known" not in str(exc).lower():
                    raise ChainError(
                        f"{function}: the node refused the transaction: {exc}"
                    ) from None
        log.debug("sent %s nonce %d: %s", function, nonce, tx_hash)
        return SentTransaction(tx_hash=tx_hash, nonce=nonce, function=function)

    def failure_reason(
        self, receipt: TxReceipt, function: str, *args: Any, value: int = 0
    ) -> ChainError:
        """Why a mined transaction failed: replay it on the state before its block."""
        call = self._call_params(self.codec.function(function).encode(args), value)
        block = max(int(receipt["blockNumber"]) - 1, 0)
        try:
            self.request("eth_call", [call, hex(block)], f"replay {function}", function)
        except ContractRevertError as exc:
            return exc
        return TransactionFailedError(
            f"{function} transaction {to_hex(receipt['transactionHash'])} failed "
            f"(status 0, gas used {receipt['gasUsed']}) and the replay does not revert"
        )

    def transact(
        self, function: str, *args: Any, value: int = 0, timeout_s: float = 120.0
    ) -> TxReceipt:
        """Send and wait for the receipt; a failed transaction raises its decoded reason."""
        sent = self.send(function, *args, value=value)
        receipt = self.wait_for_receipt(sent.tx_hash, timeout_s)
        if receipt["status"] != 1:
            raise self.failure_reason(receipt, function, *args, value=value)
        return receipt

    def receipt_events(self, receipt: TxReceipt) -> list[EventData]:
        """The oracle's events in a receipt (other contracts' logs are skipped)."""
        return [
            decoded
            for decoded in (
                self.decode_log(item) for item in receipt["logs"] if item["address"] == self.address
            )
            if decoded
        ]


__all__ = ["ChainClient", "ContractRevertError", "SentTransaction", "send_lock"]
