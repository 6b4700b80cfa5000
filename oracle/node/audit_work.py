"""The compute side of audited tasks on a node: one `Auditor` per model kind (images: the
diffusion trajectory, text: the greedy generation's tokens and hidden states), each executing,
serving its evidence and auditing through one small interface, with the executor's evidence kept
on disk (`EvidenceStore`) until the task ends.

Images (audit_image.py): the latent after every step is evidence, the auditor recomputes the
challenged step from its served input latent and decodes the final one. Text (audit_text.py): the
token ids are evidence, all served, the auditor runs one prefill and checks each token's logit
margin.

Either way the auditor's digest is its sketch of the challenged leaf, as the contract's opening of
the executor's is the executor's; an auditor whose valid evidence contradicts the result
(an image that is not the trajectory's, tokens that are not the result or not greedy) commits
EVIDENCE_WITHHELD_DIGEST: the contract rejects the executor when a majority of auditors reveal it,
whatever sketches the executor opens (a reserved digest the executor could copy into its own
sketches would not be safe as an ordinary vote).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from inference.audit.merkle import Commitment

if TYPE_CHECKING:
    from inference.models import LoadedModel
    from oracle.node.conduct import Conduct


@dataclass(frozen=True)
class Execution:
    """What the executor submits and keeps: the result's digest, the commitment (evidence and
    sketch trees), the artifact a requester fetches, and the evidence tree's leaf payloads."""

    result_digest: bytes
    commitment: Commitment
    artifact: bytes
    media_type: str
    evidence: tuple[bytes, ...]


@dataclass(frozen=True)
class Claim:
    """An audited task as the chain states it, for an auditor to judge: the input, the task's
    tolerance, the executor's submission and the challenged leaf."""

    input: bytes
    tolerance: int
    evidence_root: bytes
    result_digest: bytes
    leaf_count: int
    index: int


class Auditor(Protocol):
    """One loaded model's part in audited tasks, as executor and as auditor."""

    model: LoadedModel

    def spec(self, data: bytes) -> Any:
        """The task's input; InvalidInputError for one the model refuses (the executor then
        submits INVALID_INPUT_DIGEST, and an auditor checks that claim with this)."""
        ...

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        """Generate the input (through the conduct), commit, and keep it in `store`; raises
        InvalidInputError for an input the model refuses."""
        ...

    def serve(self, store: EvidenceStore, task_id: int, index: int) -> dict[str, Any]:
        """The evidence a drawn auditor gets once the challenged leaf `index` exists, with
        proofs."""
        ...

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        """The digest to commit from the executor's served `body`: the sketch of the recomputed
        challenged leaf, EVIDENCE_WITHHELD_DIGEST when valid evidence contradicts the
        result; None while the body is not valid evidence (the caller asks again)."""
        ...


class EvidenceStore:
    """The executor's kept executions, one folder per task under the node's data dir: the
    commitment (secret, sketches, evidence payloads), the result digest and the artifact; an
    auditor may keep more there (`folder`: an image's latents)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, task_id: int) -> Path:
        folder = self.root / str(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _dir(self, task_id: int) -> Path:
        return self.root / str(task_id)

    def save(self, task_id: int, execution: Execution) -> None:
        """Written last, atomically: once `has` says so, everything is there."""
        folder = self.folder(task_id)
        (folder / "artifact").write_bytes(execution.artifact)
        kept = {
            "secret": execution.commitment.secret.hex(),
            "sketches": [s.hex() for s in execution.commitment.sketches],
            "evidence": [leaf.hex() for leaf in execution.evidence],
            "result_digest": execution.result_digest.hex(),
            "media_type": execution.media_type,
        }
        tmp = folder / "commitment.json.tmp"
        tmp.write_text(json.dumps(kept))
        os.replace(tmp, folder / "commitment.json")

    def has(self, task_id: int) -> bool:
        return (self._dir(task_id) / "commitment.json").exists()

    def _kept(self, task_id: int) -> dict[str, Any]:
        kept: dict[str, Any] = json.loads((self._dir(task_id) / "commitment.json").read_text())
        return kept

    def commitment(self, task_id: int) -> Commitment:
        kept = self._kept(task_id)
        return Commitment.build(
            [bytes.fromhex(p) for p in kept["evidence"]],
            [bytes.fromhex(s) for s in kept["sketches"]],
            bytes.fromhex(kept["secret"]),
        )

    def evidence(self, task_id: int) -> list[bytes]:
        """The evidence tree's leaf payloads."""
        return [bytes.fromhex(p) for p in self._kept(task_id)["evidence"]]

    def result_digest(self, task_id: int) -> bytes:
        return bytes.fromhex(self._kept(task_id)["result_digest"])

    def artifact(self, task_id: int) -> tuple[bytes, str] | None:
        """The result's bytes and media type (None: nothing kept for the task)."""
        path = self._dir(task_id) / "artifact"
        if not self.has(task_id) or not path.exists():
            return None
        return path.read_bytes(), str(self._kept(task_id)["media_type"])


def proof_of(item: dict[str, Any]) -> list[bytes]:
    """A served item's Merkle proof (0x-hex siblings)."""
    return [bytes.fromhex(str(p).removeprefix("0x")) for p in item["proof"]]
