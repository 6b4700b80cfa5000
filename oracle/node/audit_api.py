"""The audited mode's routes on a node's API: the executor serves its challenged evidence to the
task's drawn auditors (a request signed by the auditor's key), and the result it generated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from oracle.node.api import ErrorBody

if TYPE_CHECKING:
    from oracle.node.audited import AuditDesk


class EvidenceRequest(BaseModel):
    """An auditor's request: its address and its signature of `evidence_message`."""

    auditor: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


def add_audit_routes(app: FastAPI, desk: AuditDesk) -> None:
    @app.post(
        "/audit/tasks/{task_id}/evidence",
        responses={code: {"model": ErrorBody} for code in (400, 403, 404, 422, 502, 503)},
        summary="The challenged evidence of an audited task (input latents; text: the tokens), "
        "with their Merkle proofs, "
        "for one of its drawn auditors (signed request), once the challenge exists",
    )
    def audit_evidence(task_id: int, request: EvidenceRequest) -> dict[str, Any]:
        body = desk.evidence_for(task_id, request.auditor, request.signature)
        if body is None:
            raise HTTPException(
                403, "not served: not this node's task, not a drawn auditor, or no challenge yet"
            )
        return body

    @app.get(
        "/audit/tasks/{task_id}/artifact",
        summary="The result this node generated as the executor of an audited task (an image, "
        "or the text decoded from the generated tokens)",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}, "text/plain": {}}},
            **{code: {"model": ErrorBody} for code in (400, 404, 422)},
        },
    )
    def audit_artifact(task_id: int) -> Response:
        kept = desk.result_artifact(task_id)
        if kept is None:
            raise HTTPException(404, f"no result of audited task {task_id} here")
        content, media_type = kept
        return Response(content=content, media_type=media_type)
