"""The operator dashboard served by the node at `/`: stake and credit, the models served, open
tasks by phase, recent tasks with each member's per-lane distance and the outcome, the image
beside its digest, and a feed of what changed (the page polls `/dashboard/state`).

Only public data: the operator's record and credit as the chain reports them, votes and digests
as revealed on chain, and the node's artifacts through the API's own routes, which serve them
only once no more commits can come. No token, key, salt, or a digest before it is revealed.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Protocol

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from oracle.chain.client import ChainClient
from oracle.chain.views import Phase, outputs_public, read_phase
from oracle.node.states import ACTIVE_STATES
from oracle.node.store import Store
from oracle.sdk.operators import operator_status
from oracle.sdk.results import TaskResult, task_result


class DashboardStatus(Protocol):
    """What the page reads of the running node (oracle.node.api.NodeStatus provides it)."""

    @property
    def address(self) -> str: ...

    @property
    def chain_ok(self) -> bool: ...

    @property
    def head_block(self) -> int: ...

    def model_names(self) -> dict[str, str]: ...


RECENT_TASKS = 10
"""Tasks shown in the recent list, newest first."""
_ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}


class DashboardVote(BaseModel):
    operator: str
    revealed: bool
    digest: str | None = Field(description="As revealed on chain (null until then)")
    distances: tuple[int, int, int, int] | None
    agrees: bool | None


class DashboardTask(BaseModel):
    task_id: int
    model: str
    status: str
    phase: str
    state: str = Field(description="This node's state for the task")
    outcome: str | None = Field(description="What the resolution meant for this node")
    digest: str | None = Field(description="The consensus digest, once resolved")
    tolerance: tuple[int, int, int, int]
    support: int | None
    votes: list[DashboardVote]
    artifact: str | None = Field(
        description="The artifact's media type, once public (GET /tasks/{id}/artifact)"
    )


class DashboardState(BaseModel):
    operator: str
    chain_id: int
    oracle: str
    head_block: int
    rpc_reachable: bool
    endpoint: str
    active: bool
    paused: bool
    stake_wei: int
    credit_wei: int
    models: dict[str, str] = Field(description="model id -> name, served by this node")
    open_tasks: dict[str, list[int]] = Field(description="phase -> open task ids of this node")
    recent: list[DashboardTask]
    at: float


def add_dashboard(app: FastAPI, status: DashboardStatus, client: ChainClient, store: Store) -> None:
    """Mount the page (`/`), its assets and its state route on the node's API."""
    final_results: dict[int, TaskResult] = {}  # a final task's result no longer changes

    def result_of(task_id: int, from_block: int) -> TaskResult | None:
        cached = final_results.get(task_id)
        if cached is not None:
            return cached
        result = task_result(client, task_id, from_block=from_block)
        if result is not None and result.final:
            final_results[task_id] = result
        return result

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"))

    @app.get("/dashboard/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in _ASSETS:
            return Response(status_code=404)
        return Response(_asset(name), media_type=_ASSETS[name])

    @app.get(
        "/dashboard/state",
        response_model=DashboardState,
        summary="What the operator dashboard shows (public data only)",
    )
    def state() -> DashboardState:
        names = status.model_names()
        operator = operator_status(client, status.address)
        open_tasks: dict[str, list[int]] = {}
        for record in store.tasks(ACTIVE_STATES):
            phase = read_phase(client, record.task_id).name.lower()
            open_tasks.setdefault(phase, []).append(record.task_id)
        recent = []
        for record in store.recent_tasks(RECENT_TASKS):
            result = result_of(record.task_id, record.request_block)
            if result is None:
                continue
            artifact = None
            if outputs_public(Phase[result.phase.upper()]):
                stored = store.get_artifact(record.task_id)
                artifact = stored.media_type if stored is not None else None
            recent.append(
                DashboardTask(
                    task_id=record.task_id,
                    model=names.get(result.model_id, result.model_id),
                    status=result.status,
                    phase=result.phase,
                    state=record.state,
                    outcome=record.outcome,
                    digest=result.digest,
                    tolerance=result.tolerance,
                    support=result.support,
                    votes=[
                        DashboardVote(
                            operator=v.operator,
                            revealed=v.revealed,
                            digest=v.digest,
                            distances=v.distances,
                            agrees=v.agrees,
                        )
                        for v in result.votes
                    ],
                    artifact=artifact,
                )
            )
        return DashboardState(
            operator=status.address,
            chain_id=client.chain_id,
            oracle=client.address,
            head_block=status.head_block,
            rpc_reachable=status.chain_ok,
            endpoint=operator.endpoint,
            active=operator.active,
            paused=operator.paused,
            stake_wei=operator.stake_wei,
            credit_wei=operator.credit_wei,
            models=names,
            open_tasks=open_tasks,
            recent=recent,
            at=time.time(),
        )


def _asset(name: str) -> str:
    return resources.files("oracle.node").joinpath("dashboard_static", name).read_text("utf-8")
