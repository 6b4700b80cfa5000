"""What the gateway does for a client, apart from HTTP: check the request, the key's limits and
the gateway's funds, pay the request from the gateway's account, and record what it cost.

Every refusal is a `RefusalError` with the HTTP status and reason the client gets. The fee is the
contract's own minimum (`requiredFee`, through the SDK); the gas is priced by the project's
EIP-1559 rule (deploy/fees.py): a request reserves `request_gas_reserve` gas at the highest price
it may pay, against its key's spend limit and the gateway's balance, and is charged its real cost
(fee + gas used x effective price) once mined.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from deploy.fees import fee_caps
from inference.digests import Tolerance
from inference.errors import InferenceError
from oracle.chain.reverts import ContractRevertError
from oracle.config import GatewaySettings
from oracle.errors import ChainError, ChainUnavailableError, ConfigError, OracleError
from oracle.gateway.keys import ApiKey, KeyRing
from oracle.gateway.ledger import RATE_WINDOW_S, Ledger
from oracle.sdk.client import OracleClient, SubmittedTask, ToleranceTooLowError, model_id_of

log = logging.getLogger(__name__)
WEI_PER_ETH = 10**18


class RefusalError(OracleError):
    """A request the gateway does not carry out: the HTTP status and the reason."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass(frozen=True)
class GatewayModel:
    name: str
    model_id: str
    """0x-hex."""


class TaskRequest(BaseModel):
    """What a client asks for: a model of the gateway and an input its schema accepts."""

    model: str
    input: dict[str, Any] | str
    committee_size: int | None = None
    tolerance: list[int] | None = None


def _eth(wei: int) -> str:
    return f"{wei / WEI_PER_ETH:.6f} ETH"


class Gateway:
    """The gateway's state: its paying client, its ledger, its keys and its models."""

    def __init__(
        self, client: OracleClient, ledger: Ledger, keys: KeyRing, settings: GatewaySettings
    ) -> None:
        if client.chain.account is None:
            raise ConfigError("the gateway needs a paying account: configure [account]")
        self.client = client
        self.ledger = ledger
        self.keys = keys
        self.settings = settings
        self.account: str = str(client.chain.account.address)
        self.models: dict[str, GatewayModel] = {}
        for name in settings.models:
            model_id = "0x" + model_id_of(name).hex()
            self.models[name] = GatewayModel(name=name, model_id=model_id)
        for key_name, key in settings.keys.items():
            unknown = set(key.models or ()) - set(self.models)
            if unknown:
                raise ConfigError(
                    f"gateway.keys.{key_name}.models names {sorted(unknown)}, which "
                    f"gateway.models does not serve ({', '.join(self.models)})"
                )
        ledger.bind(client.chain.chain_id, client.chain.address, self.account)

    # -- the checks ---------------------------------------------------------------------------

    def model_for(self, key: ApiKey, requested: str) -> GatewayModel:
        wanted = requested.strip()
        for model in self.models.values():
            if wanted in (model.name, model.model_id) or wanted.lower() == model.model_id:
                if key.models is not None and model.name not in key.models:
                    raise RefusalError(
                        403,
                        f"API key {key.name!r} may not use model {model.name!r}; it may use "
                        f"{', '.join(sorted(key.models)) or 'none'}",
                    )
                return model
        raise RefusalError(
            422,
            f"unknown model {requested!r}: this gateway serves {', '.join(self.models)} "
            "(by name or 0x model id)",
        )

    def _committee(self, requested: int | None) -> int:
        size = self.settings.committee_size if requested is None else requested
        if size < 3 or size % 2 == 0 or size > self.settings.max_committee_size:
            raise RefusalError(
                422,
                f"committee_size {size}: must be odd, from 3 to "
                f"{self.settings.max_committee_size} on this gateway",
            )
        return size

    def _gas_reserve_wei(self) -> int:
        base_fee = int(self.client.chain.head()["baseFeePerGas"])
        tip = int(self.client.chain.rpc(lambda: self.client.chain.w3.eth.max_priority_fee, "tip"))
        max_fee, _ = fee_caps(base_fee, tip)
        return self.settings.request_gas_reserve * max_fee

    def _check_limits(self, key: ApiKey, cost_wei: int) -> None:
        now = time.time()
        usage = self.ledger.usage(key.name, now)
        if usage.tasks_last_minute >= key.tasks_per_minute:
            oldest = usage.oldest_in_minute_at or now
            retry = max(1, int(oldest + RATE_WINDOW_S - now) + 1)
            raise RefusalError(
                429,
                f"rate limit of API key {key.name!r}: {key.tasks_per_minute} tasks per minute; "
                f"try again in {retry} s",
                {"Retry-After": str(retry)},
            )
        if usage.spent_last_day_wei + cost_wei > key.spend_per_day_wei:
            raise RefusalError(
                429,
                f"spend limit of API key {key.name!r}: {_eth(usage.spent_last_day_wei)} spent "
                f"in the last 24 h, this request may cost up to {_eth(cost_wei)} (fee + gas), "
                f"the limit is {_eth(key.spend_per_day_wei)}",
            )
        available = self.client.chain.balance(self.account) - self.ledger.pending_wei()
        if available < cost_wei:
            raise RefusalError(
                402,
                f"the gateway's account {self.account} cannot pay this request: it holds "
                f"{_eth(max(available, 0))} not yet committed to requests in flight, the request "
                f"may cost {_eth(cost_wei)}; the gateway's operator must fund it",
            )

    # -- the request --------------------------------------------------------------------------

    def submit(self, key: ApiKey, request: TaskRequest) -> SubmittedTask:
        model = self.model_for(key, request.model)
        committee = self._committee(request.committee_size)
        tolerance = None
        if request.tolerance is not None:
            try:
                tolerance = Tolerance.of(*request.tolerance)
            except (ValueError, TypeError) as exc:
                raise RefusalError(422, f"tolerance {request.tolerance}: {exc}") from None
        try:
            view = self.client.model(model.model_id)
        except ChainError:
            raise
        except OracleError as exc:  # not registered on this oracle
            raise RefusalError(422, f"model {model.name!r}: {exc}") from None
        if not view.active:
            raise RefusalError(422, f"model {model.name!r} is retired on this oracle")
        try:
            data = self.client.encode_input(view, request.input)
        except InferenceError as exc:
            raise RefusalError(422, f"input rejected by {model.name}'s schema: {exc}") from None
        try:
            tolerance_value = self.client.tolerance_for(model.model_id, view, data, tolerance)
        except ToleranceTooLowError as exc:
            raise RefusalError(422, str(exc)) from None
        fee = self.client.minimum_fee(committee)
        reserved = fee + self._gas_reserve_wei()
        with self.ledger.checking():
            self._check_limits(key, reserved)
            reservation = self.ledger.reserve(key.name, model.model_id, reserved)
        try:
            submitted = self.client.submit(
                model.model_id,
                data,
                committee_size=committee,
                tolerance=tolerance_value,
                fee_wei=fee,
                validate=False,
            )
        except ContractRevertError as exc:  # refused in simulation: nothing was sent
            self.ledger.release(reservation)
            raise RefusalError(422, f"the oracle refused the request: {exc}") from None
        # Any other failure may come after the broadcast: the reservation stays counted.
        cost = submitted.fee_wei + submitted.gas_wei
        self.ledger.settle(reservation, submitted.task_id, submitted.tx_hash, cost)
        log.info("key %s: task %d (%s), cost %d wei", key.name, submitted.task_id, model.name, cost)
        return submitted


def chain_refusal(exc: ChainError) -> RefusalError:
    """An RPC failure as the client sees it: 503 while unreachable, 502 otherwise."""
    if isinstance(exc, ChainUnavailableError):
        return RefusalError(503, f"chain unreachable: {exc}")
    return RefusalError(502, f"chain error: {exc}")
