"""The node's HTTP API (FastAPI): task status, artifacts, token ids, verification, health, metrics,
operator.

Public endpoints read the chain through the node's client, so any node answers for any task; the
node adds what it knows locally (its vote, inference time, artifact). What the node computed for
a task (artifact, token ids, digest, invalid-input flag, opening) is served only once the chain
says no more commits can come (`outputs_public`): before that a committee peer could copy it into
a commitment of its own without running the model. Operator endpoints need
`Authorization: Bearer <token>` with the token from the environment variable `api.token_env`.
Every bad request gets a 4xx with a `detail` that says what was wrong; an unreachable RPC is a 503.

Long module: one FastAPI app whose routes are short and share its error handlers, its auth
and its limits.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Protocol

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import Phase, outputs_public, read_phase, read_task
from oracle.config import ApiSettings
from oracle.errors import ChainError, ChainUnavailableError, OracleError
from oracle.node.conduct import Conduct
from oracle.node.metrics import NodeMetrics
from oracle.node.states import ACTIVE_STATES, FINAL_STATES, TaskState
from oracle.node.store import Store
from oracle.sdk.operators import OperatorStatus, operator_status
from oracle.sdk.results import TaskResult, task_result
from oracle.sdk.verify import Verification, VerificationError, verify_artifact


class NodeStatus(Protocol):
    """What the API reads of the running node besides its store and chain client."""

    @property
    def address(self) -> str: ...

    @property
    def chain_ok(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def head_block(self) -> int: ...

    @property
    def start_block(self) -> int: ...

    @property
    def conduct(self) -> Conduct: ...

    def model_names(self) -> dict[str, str]: ...


MAX_TASK_ID = 2**256 - 1
VERIFY_THREADS = 2
"""Uploads digested at the same time (in worker threads, off the event loop); others queue."""
TaskId = Annotated[int, PathParam(ge=1, le=MAX_TASK_ID, description="On-chain task id (1, 2, ...)")]


class ErrorBody(BaseModel):
    detail: str = Field(description="What was wrong with the request, and what to do")


class HealthBody(BaseModel):
    status: str = Field(description="'ok', or 'degraded' while the RPC is unreachable")
    operator: str
    chain_id: int
    oracle: str
    head_block: int
    log_cursor: int | None
    rpc_reachable: bool
    last_error: str | None
    conduct: str = Field(description="'honest' on every production node")
    models: dict[str, str] = Field(description="model id -> model name served by this node")
    tasks_by_state: dict[str, int]


class LocalTaskBody(BaseModel):
    """What this node itself did for the task (absent when it was not drawn). `digest`,
    `invalid_input`, `inference_seconds` (near zero for an invalid input) and
    `artifact_media_type` stay null until the task's commit phase is over."""

    state: str
    detail: str
    digest: str | None
    invalid_input: bool | None
    inference_seconds: float | None
    outcome: str | None
    artifact_media_type: str | None
    commit_tx: str | None
    reveal_tx: str | None


@dataclass(frozen=True)
class TaskBody(TaskResult):
    """The task as every requester sees it (oracle.sdk.results.TaskResult), plus this node's
    part."""

    node: LocalTaskBody | None = None


class OpeningBody(BaseModel):
    task_id: int
    position: int
    operator: str
    digest: str
    salt: str


@dataclass(frozen=True)
class OperatorBody(OperatorStatus):
    """The operator as anyone may read it on chain (oracle.sdk.operators.OperatorStatus), plus
    this node's task counts."""

    tasks_by_state: dict[str, int] = field(default_factory=dict)


class NodeTaskBody(BaseModel):
    task_id: int
    state: str
    detail: str
    outcome: str | None
    inference_seconds: float | None
    request_block: int


class RejectionBody(BaseModel):
    task_id: int | None
    reason: str
    at: float


class JournalBody(BaseModel):
    step: str
    detail: str
    at: float


class TokensBody(BaseModel):
    """A text task's generated token ids: what its digest covers (sha256 of the ids), so a client
    checks them against the chain without the model."""

    task_id: int
    token_ids: list[int] = Field(description="The generated token ids, in order")
    text: str = Field(
        description="This node's decoding of them (the digest covers the ids, not this text)"
    )


class ClaimBody(BaseModel):
    tx_hash: str
    amount_wei: int


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 409, 413, 422, 503)
}
_BEARER = HTTPBearer(auto_error=False, description="The operator token set on the node")
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
}


def create_app(
    status: NodeStatus,
    *,
    client: ChainClient,
    store: Store,
    metrics: NodeMetrics,
    settings: ApiSettings,
) -> FastAPI:
    """The API of one node: its store and chain client answer the task routes, `status` the
    health route."""
    app = FastAPI(
        title="genoracle node API",
        version="1.0",
        description="Task status with votes and distances, artifacts, verification of an "
        "artifact against its task, health, Prometheus metrics, and operator "
        "endpoints behind a bearer token.",
    )
    token = os.environ.get(settings.token_env) or None

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(
                str(p) for p in error.get("loc", ()) if p not in ("path", "query", "body")
            )
            parts.append(f"{where or 'request'}: {error.get('msg')} (got {error.get('input')!r})")
        return JSONResponse(status_code=422, content={"detail": "; ".join(parts)})

    @app.exception_handler(ChainUnavailableError)
    async def _unavailable(_: Request, exc: ChainUnavailableError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"chain unreachable: {exc}"})

    @app.exception_handler(ChainError)
    async def _chain_error(_: Request, exc: ChainError) -> JSONResponse:
        return JSONResponse(status_code=502, content={"detail": f"chain error: {exc}"})

    @app.exception_handler(OracleError)
    async def _node_error(_: Request, exc: OracleError) -> JSONResponse:
        # The node's own state (its store, its configuration), not the caller's request.
        return JSONResponse(status_code=500, content={"detail": f"node error: {exc}"})

    def require_operator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if token is None:
            raise HTTPException(
                403,
                f"operator endpoints are disabled: no token configured "
                f"(set ${settings.token_env} on the node)",
            )
        if credentials is None:
            raise HTTPException(
                401,
                "missing bearer token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong bearer token")

    operator_only = [Depends(require_operator)]
    verify_limiter: list[anyio.CapacityLimiter] = []  # made on first use, inside the event loop

    @app.get(
        "/health",
        response_model=HealthBody,
        responses={503: {"model": HealthBody}},
        summary="Liveness and chain reachability",
    )
    def health() -> JSONResponse:
        body = HealthBody(
            status="ok" if status.chain_ok else "degraded",
            operator=status.address,
            chain_id=client.chain_id,
            oracle=client.address,
            head_block=status.head_block,
            log_cursor=store.log_cursor(),
            rpc_reachable=status.chain_ok,
            last_error=status.last_error,
            conduct=status.conduct.name,
            models=status.model_names(),
            tasks_by_state=store.count_by_state(),
        )
        return JSONResponse(status_code=200 if status.chain_ok else 503, content=body.model_dump())

    @app.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}}},
    )
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    def _still_secret(task_id: int, phase: Phase, what: str) -> HTTPException:
        where = "still in its commit phase"
        if phase != Phase.COMMIT:  # e.g. not started yet: commits are still to come
            where = f"in phase {phase.name.lower()}, before the end of its commit phase"
        return HTTPException(
            409, f"task {task_id} is {where}; {what} are served once no more commits can come"
        )

    def _local(task_id: int, public: bool) -> LocalTaskBody | None:
        """`public`: the task's phase allows serving what the node computed (`outputs_public`)."""
        record = store.get_task(task_id)
        if record is None:
            return None
        vote = store.get_vote(task_id)
        artifact = store.get_artifact(task_id) if public else None
        return LocalTaskBody(
            state=record.state,
            detail=record.detail,
            digest="0x" + vote.digest.hex() if vote and public else None,
            invalid_input=vote.invalid_input if vote and public else None,
            inference_seconds=record.inference_seconds if public else None,
            outcome=record.outcome,
            artifact_media_type=artifact.media_type if artifact else None,
            # Transaction hashes only: the commit carries a salted hash, the reveal is on chain.
            commit_tx=vote.commit_tx if vote else None,
            reveal_tx=vote.reveal_tx if vote else None,
        )

    @app.get(
        "/tasks/{task_id}",
        response_model=TaskBody,
        responses=_ERRORS,
        summary="A task's status, votes with distances to the result, and payouts",
    )
    def get_task(task_id: TaskId) -> TaskBody:
        local = store.get_task(task_id)
        result = task_result(
            client, task_id, from_block=local.request_block if local else status.start_block
        )
        if result is None:
            raise HTTPException(404, f"task {task_id} does not exist on oracle {client.address}")
        # The phase was read before the node's own records: if it still allowed commits then,
        # they stay hidden even if the phase has moved on since.
        public = outputs_public(Phase[result.phase.upper()])
        shared = {item.name: getattr(result, item.name) for item in fields(result)}
        return TaskBody(**shared, node=_local(task_id, public))

    @app.get(
        "/tasks/{task_id}/opening",
        response_model=OpeningBody,
        responses={**_ERRORS, 409: {"model": ErrorBody}},
        summary="This node's opening (digest and salt) of a task, once its commit phase is over",
    )
    def get_opening(task_id: TaskId) -> OpeningBody:
        """For the aggregated reveal (oracle/node/aggregation.py). Handed out only once the chain
        says no more commits can come, so nobody can copy it into a commitment of their own."""
        vote = store.get_vote(task_id)
        if vote is None or vote.commit_tx is None:
            raise HTTPException(404, f"this node has not committed to task {task_id}")
        if not status.conduct.reveals():
            raise HTTPException(404, f"this node does not reveal (conduct {status.conduct.name!r})")
        view = read_task(client, task_id)
        position = view.member_index(status.address) if view is not None else None
        if view is None or position is None or not view.committed[position]:
            raise HTTPException(404, f"this node's commit to task {task_id} is not on chain")
        phase = read_phase(client, task_id)
        if not outputs_public(phase):
            raise _still_secret(task_id, phase, "openings")
        return OpeningBody(
            task_id=task_id,
            position=position,
            operator=status.address,
            digest="0x" + vote.digest.hex(),
            salt="0x" + vote.salt.hex(),
        )

    @app.get(
        "/tasks/{task_id}/artifact",
        response_class=FileResponse,
        responses={**_ERRORS, 200: {"content": {"image/png": {}, "text/plain": {}}}},
        summary="The artifact this node generated for a task, once its commit phase is over",
    )
    def get_artifact(task_id: TaskId) -> FileResponse:
        """409 while commits can still come: a peer holding it could commit its digest without
        running the model."""
        artifact = store.get_artifact(task_id)
        if artifact is not None or store.get_task(task_id) is not None:
            # Drawn for it: even whether there is an artifact (none for an invalid input) waits.
            phase = read_phase(client, task_id)
            if not outputs_public(phase):
                raise _still_secret(task_id, phase, "artifacts")
        if artifact is None:
            raise HTTPException(
                404,
                f"this node has no artifact for task {task_id} (it was not "
                "drawn for it, its inference is not done, or the input "
                "was invalid)",
            )
        path = Path(artifact.path)
        if not path.is_file():
            raise HTTPException(404, f"the artifact of task {task_id} was removed from disk")
        suffix = path.suffix
        return FileResponse(
            path, media_type=artifact.media_type, filename=f"task-{task_id}{suffix}"
        )

    @app.get(
        "/tasks/{task_id}/tokens",
        response_model=TokensBody,
        responses=_ERRORS,
        summary="The token ids this node generated for a text task, once its commit phase is over",
    )
    def get_tokens(task_id: TaskId) -> TokensBody:
        """What a text task's digest covers, for `genoracle task fetch` and `verify`: the plain
        text alone cannot be checked against the chain. 409 while commits can still come."""
        artifact = store.get_artifact(task_id)
        if artifact is not None or store.get_task(task_id) is not None:
            phase = read_phase(client, task_id)
            if not outputs_public(phase):
                raise _still_secret(task_id, phase, "token ids")
        if artifact is None or artifact.token_ids is None:
            raise HTTPException(
                404,
                f"this node has no token ids for task {task_id} (it was not drawn for it, it "
                "is not a text task, its inference is not done, or the input was invalid)",
            )
        try:
            text = Path(artifact.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise HTTPException(
                404, f"the artifact of task {task_id} was removed from disk"
            ) from None
        return TokensBody(task_id=task_id, token_ids=artifact.token_ids, text=text)

    @app.post(
        "/tasks/{task_id}/verify",
        response_model=Verification,
        responses=_ERRORS,
        summary="Digest an uploaded artifact and compare it with the task's result",
    )
    async def verify(
        task_id: TaskId, file: Annotated[UploadFile, File(description="PNG image, or text")]
    ) -> Verification:
        limit = settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"upload larger than {limit} bytes")
        try:
            # Chain reads and image decoding block: a worker thread, so the event loop keeps
            # serving (a peer fetching this node's opening must not wait on someone's upload).
            # At most VERIFY_THREADS decode at once: bounded memory and CPU however many upload.
            if not verify_limiter:
                verify_limiter.append(anyio.CapacityLimiter(VERIFY_THREADS))
            verification = await anyio.to_thread.run_sync(
                _verify_upload, task_id, data, limiter=verify_limiter[0]
            )
        except VerificationError as exc:
            status = {"unknown_task": 404, "not_final": 409, "too_large": 413}.get(exc.kind, 400)
            raise HTTPException(status, str(exc)) from None
        return verification

    def _verify_upload(task_id: int, data: bytes) -> Verification:
        known: list[tuple[bytes, list[int]]] = []
        artifact = store.get_artifact(task_id)
        if artifact is not None and artifact.token_ids is not None:
            with contextlib.suppress(OSError):
                known.append((Path(artifact.path).read_bytes(), artifact.token_ids))
        return verify_artifact(client, task_id, data, known)

    @app.get(
        "/operator/status",
        response_model=OperatorBody,
        responses={**_ERRORS, **_AUTH_ERRORS},
        dependencies=operator_only,
        summary="Stake, credit and local task counts of this node's operator",
    )
    def get_operator_status() -> OperatorBody:
        on_chain = operator_status(client, status.address)
        shared = {item.name: getattr(on_chain, item.name) for item in fields(on_chain)}
        return OperatorBody(**shared, tasks_by_state=store.count_by_state())

    @app.get(
        "/operator/tasks",
        response_model=list[NodeTaskBody],
        responses={**_ERRORS, **_AUTH_ERRORS},
        dependencies=operator_only,
        summary="Tasks this node was drawn for, optionally filtered by state",
    )
    def operator_tasks(
        state: Annotated[str | None, Query(description="One state, e.g. 'missed'")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[NodeTaskBody]:
        known = (*ACTIVE_STATES, *FINAL_STATES)
        if state is not None and state not in known:
            raise HTTPException(400, f"unknown state {state!r}; known: {', '.join(known)}")
        records = store.tasks([TaskState(state)] if state else None, limit=limit)
        return [
            NodeTaskBody(
                task_id=r.task_id,
                state=r.state,
                detail=r.detail,
                outcome=r.outcome,
                inference_seconds=r.inference_seconds,
                request_block=r.request_block,
            )
            for r in records
        ]

    @app.get(
        "/operator/tasks/{task_id}/journal",
        response_model=list[JournalBody],
        responses={**_ERRORS, **_AUTH_ERRORS},
        dependencies=operator_only,
        summary="Every step this node took for a task",
    )
    def operator_journal(task_id: TaskId) -> list[JournalBody]:
        if store.get_task(task_id) is None:
            raise HTTPException(404, f"this node was not drawn for task {task_id}")
        return [
            JournalBody(step=e.step, detail=e.detail, at=e.at) for e in store.journal_of(task_id)
        ]

    @app.get(
        "/operator/rejections",
        response_model=list[RejectionBody],
        responses={**_ERRORS, **_AUTH_ERRORS},
        dependencies=operator_only,
        summary="Inputs and tasks the node refused, newest first, with reasons",
    )
    def operator_rejections(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[RejectionBody]:
        return [
            RejectionBody(task_id=r.task_id, reason=r.reason, at=r.at)
            for r in store.rejections(limit)
        ]

    @app.post(
        "/operator/claim",
        response_model=ClaimBody,
        responses={**_ERRORS, **_AUTH_ERRORS},
        dependencies=operator_only,
        summary="Withdraw the operator's credited fees and rewards",
    )
    def operator_claim() -> ClaimBody:
        amount = int(client.view("creditOf", status.address))
        try:
            receipt = client.transact("claim")
        except ContractRevertError as exc:
            raise HTTPException(409, str(exc)) from None
        return ClaimBody(tx_hash=receipt["transactionHash"].to_0x_hex(), amount_wei=amount)

    return app
