"""The gateway's HTTP API (FastAPI): web2 clients request verified generations with an API key,
paid from the gateway's account, and read their tasks' results and verified artifacts.

Every route but `/health` needs `X-API-Key`. Bodies are the SDK's dataclasses (`SubmittedTask`,
`TaskResult`, `Verification`), so the gateway, the SDK, the CLI and the node's API tell the same
story. Every refusal is a 4xx whose `detail` says what was wrong: 401 missing or unknown key, 402
the gateway cannot pay, 403 a model the key may not use, 404 not this key's task, 409 not
resolved yet, 422 an unknown model, an input the model's schema rejects, a committee or tolerance
out of range, 429 a key over its rate or spend limit (with `Retry-After` for the rate); 502/503
when the chain or every committee member fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from oracle.chain.views import read_model
from oracle.errors import ChainError
from oracle.gateway.keys import ApiKey
from oracle.gateway.service import Gateway, RefusalError, TaskRequest, chain_refusal
from oracle.sdk.client import SubmittedTask
from oracle.sdk.fetch import FetchError, fetch_artifact
from oracle.sdk.results import TaskResult, task_result

API_KEY_HEADER = "X-API-Key"
TaskId = Annotated[int, PathParam(ge=1, le=2**256 - 1, description="On-chain task id")]


class ErrorBody(BaseModel):
    detail: str = Field(description="What was wrong with the request, and what to do")


class HealthBody(BaseModel):
    status: str = Field(description="'ok', or 'degraded' while the RPC is unreachable")
    account: str = Field(description="The account that pays for requests")
    balance_wei: int | None
    chain_id: int
    oracle: str
    rpc_reachable: bool


class ModelBody(BaseModel):
    name: str
    model_id: str
    kind: str | None = Field(description="'image' or 'text'; null when not registered")
    registered: bool
    default_tolerance: list[int] | None


class UsageBody(BaseModel):
    key: str
    tasks_last_minute: int
    tasks_per_minute: int
    spent_last_day_wei: int = Field(description="Fees plus request gas paid in the last 24 h")
    spend_per_day_wei: int
    models: list[str]


class LedgerTaskBody(BaseModel):
    task_id: int
    model_id: str
    submitted_at: float
    cost_wei: int = Field(description="Fee plus request gas the gateway paid")
    tx_hash: str


@dataclass(frozen=True)
class SubmittedBody(SubmittedTask):
    """The request as mined (oracle.sdk.client.SubmittedTask): `fee_wei` went to the oracle,
    `gas_wei` to the chain; both count against the key's spend limit."""


_KEY = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Your gateway API key")


def _api_key(request: Request, presented: Annotated[str | None, Depends(_KEY)]) -> ApiKey:
    if not presented:
        raise RefusalError(401, f"missing API key: send it in the {API_KEY_HEADER} header")
    gateway: Gateway = request.app.state.gateway
    key = gateway.keys.match(presented)
    if key is None:
        raise RefusalError(401, "unknown API key")
    return key


Key = Annotated[ApiKey, Depends(_api_key)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in (401, 422, 502, 503, *codes)}


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="genoracle gateway",
        version="1.0",
        description="Request verified generations over HTTP with an API key; the gateway pays "
        "from its account. Read a task's votes and verified digest, and fetch its artifact "
        "checked against the chain.",
    )
    app.state.gateway = gateway
    chain = gateway.client.chain

    @app.exception_handler(RefusalError)
    async def _refused(_: Request, exc: RefusalError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ChainError)
    async def _chain(_: Request, exc: ChainError) -> JSONResponse:
        refusal = chain_refusal(exc)
        return JSONResponse({"detail": refusal.detail}, status_code=refusal.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(
                str(p) for p in error.get("loc", ()) if p not in ("path", "query", "body")
            )
            parts.append(f"{where or 'request'}: {error.get('msg')} (got {error.get('input')!r})")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    def own_task(key: ApiKey, task_id: int) -> None:
        if gateway.ledger.task(key.name, task_id) is None:
            raise RefusalError(404, f"task {task_id} was not submitted with this API key")

    @app.get("/health", response_model=HealthBody, summary="The gateway's account and chain")
    def health() -> JSONResponse:
        try:
            balance: int | None = chain.balance(gateway.account)
        except ChainError:
            balance = None
        body = HealthBody(
            status="ok" if balance is not None else "degraded",
            account=gateway.account,
            balance_wei=balance,
            chain_id=chain.chain_id,
            oracle=chain.address,
            rpc_reachable=balance is not None,
        )
        return JSONResponse(body.model_dump(), status_code=200 if balance is not None else 503)

    @app.post(
        "/v1/tasks",
        response_model=SubmittedBody,
        status_code=201,
        responses=_errors(402, 403, 429),
        summary="Request a verified generation, paid by the gateway",
    )
    def submit(key: Key, request: TaskRequest) -> SubmittedBody:
        """`model` is a model name (or 0x id) the gateway serves, `input` the generation input
        (an object its schema accepts). Returns the task id once the request is mined."""
        submitted = gateway.submit(key, request)
        return SubmittedBody(**vars(submitted))

    @app.get(
        "/v1/tasks",
        response_model=list[LedgerTaskBody],
        responses=_errors(),
        summary="The tasks submitted with this API key, newest first",
    )
    def tasks(key: Key, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[LedgerTaskBody]:
        return [
            LedgerTaskBody(
                task_id=t.task_id,
                model_id=t.model_id,
                submitted_at=t.at,
                cost_wei=t.cost_wei,
                tx_hash=t.tx_hash,
            )
            for t in gateway.ledger.tasks(key.name, limit)
        ]

    @app.get(
        "/v1/tasks/{task_id}",
        response_model=TaskResult,
        responses=_errors(404),
        summary="A task's status, votes with distances to the result, and payouts",
    )
    def get_task(key: Key, task_id: TaskId) -> TaskResult:
        own_task(key, task_id)
        result = task_result(chain, task_id, from_block=gateway.client.start_block)
        if result is None:
            raise RefusalError(404, f"task {task_id} does not exist on oracle {chain.address}")
        return result

    @app.get(
        "/v1/tasks/{task_id}/artifact",
        response_class=Response,
        responses={
            **_errors(404, 409),
            200: {"content": {"image/png": {}, "text/plain": {}}},
        },
        summary="The task's artifact from a committee member, checked against the chain",
    )
    async def get_artifact(key: Key, task_id: TaskId) -> Response:
        """Fetched from the members' registered endpoints; served only if its digest agrees with
        the resolved on-chain digest (headers say who served it and the distances)."""
        own_task(key, task_id)
        try:
            fetched = await anyio.to_thread.run_sync(
                lambda: fetch_artifact(chain, task_id, from_block=gateway.client.start_block)
            )
        except FetchError as exc:
            status = {"unknown_task": 404, "not_resolved": 409, "invalid_input": 409}
            raise RefusalError(status.get(exc.kind, 502), str(exc)) from None
        check = fetched.verification
        headers = {
            "X-Genoracle-Operator": fetched.operator,
            "X-Genoracle-Digest": check.onchain_digest,
            "X-Genoracle-Distances": "/".join(map(str, check.distances)),
        }
        if fetched.token_ids is not None:
            headers["X-Genoracle-Token-Ids"] = ",".join(map(str, fetched.token_ids))
        return Response(fetched.data, media_type=fetched.media_type, headers=headers)

    @app.get(
        "/v1/usage",
        response_model=UsageBody,
        responses=_errors(),
        summary="This API key's use of its limits",
    )
    def usage(key: Key) -> UsageBody:
        now = gateway.ledger.usage(key.name, time.time())
        return UsageBody(
            key=key.name,
            tasks_last_minute=now.tasks_last_minute,
            tasks_per_minute=key.tasks_per_minute,
            spent_last_day_wei=now.spent_last_day_wei,
            spend_per_day_wei=key.spend_per_day_wei,
            models=sorted(key.models) if key.models is not None else list(gateway.models),
        )

    @app.get(
        "/v1/models",
        response_model=list[ModelBody],
        responses=_errors(),
        summary="The models this gateway serves, and whether each is registered on chain",
    )
    def models(key: Key) -> list[ModelBody]:
        bodies = []
        for model in gateway.models.values():
            if key.models is not None and model.name not in key.models:
                continue
            view = read_model(chain, bytes.fromhex(model.model_id[2:]))
            bodies.append(
                ModelBody(
                    name=model.name,
                    model_id=model.model_id,
                    kind=view.kind.name.lower() if view else None,
                    registered=view is not None,
                    default_tolerance=list(_lanes(view.default_tolerance)) if view else None,
                )
            )
        return bodies

    return app


def _lanes(packed: int) -> tuple[int, int, int, int]:
    from inference.digests import Tolerance

    return Tolerance.from_uint32(packed).lanes
