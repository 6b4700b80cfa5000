"""The compute side of an audited image task: the executor's trajectory and commitment, kept on
disk until the task ends, and the auditor's recomputation of the challenged steps.

The executor keeps x_0..x_n (the latent before the first step and after each), the secret its
sketch salts derive from, and the sketches; the evidence tree commits to every latent, the salted
sketch tree to every step (inference/audit). It serves an auditor x_t of a challenged step t
only, never the x_{t+1} of a challenged step: where two challenged steps follow each other the
auditor chains its own recomputed latent into the next one. The auditor's digest takes 64-bit
lane j from its sketch of challenged leaf j, as the contract's opening of the executor's does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.audit.merkle import Commitment, verify_proof
from oracle.chain.audited import compared_digest

if TYPE_CHECKING:
    import torch

    from inference.audit.diffusion import DiffusersSteps, Trajectory
    from inference.models import LoadedModel
    from inference.specs import ImageInput

TrajectoryRunner = Callable[["DiffusersSteps"], "Trajectory"]


def lane_digest(sketches: Sequence[bytes]) -> bytes:
    """The compared digest of the challenged leaves' sketches, in challenge order (lane j from
    sketches[j]: oracle.chain.audited.compared_digest, the contract's rule)."""
    return compared_digest(sketches, range(len(sketches)))


def served_steps(indices: Sequence[int]) -> list[int]:
    """The challenged steps whose input latent the executor serves: those whose previous step
    is not challenged (its output would show the auditor the state after a challenged step)."""
    challenged = set(indices)
    return sorted(t for t in challenged if t - 1 not in challenged)


def served_leaves(indices: Sequence[int], steps: int) -> list[int]:
    """The evidence leaves the executor serves: the challenged steps' inputs (`served_steps`)
    and the final latent x_n, whose decode is the result, unless the last step is challenged
    (the auditor then decodes its own recomputation)."""
    final = [] if steps - 1 in set(indices) else [steps]
    return served_steps(indices) + final


def encode_latent(latent: torch.Tensor) -> dict[str, Any]:
    array = latent.detach().to("cpu").float().contiguous().numpy().astype("<f4")
    return {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def decode_latent(body: dict[str, Any]) -> torch.Tensor:
    import numpy as np
    import torch

    raw = base64.b64decode(str(body["data"]))
    shape = [int(s) for s in body["shape"]]
    array = np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
    return torch.from_numpy(array)


@dataclass(frozen=True)
class Execution:
    """What the executor submits and keeps."""

    result_digest: bytes
    commitment: Commitment
    png: bytes


class ImageAuditor:
    """Runs audited image jobs of one loaded model (in the node's process, one at a time)."""

    def __init__(self, model: LoadedModel, threads: int) -> None:
        self.model = model
        self.threads = threads
        self.lock = threading.Lock()

    def job(self, spec: ImageInput, seed: int) -> DiffusersSteps:
        from inference.audit.diffusion import DiffusersSteps

        if spec.scheduler != "default":
            raise ValueError(f"audited tasks use the model's own scheduler, not {spec.scheduler}")
        pipeline = self.model.image_backend._pipeline  # type: ignore[attr-defined]
        return DiffusersSteps(
            pipeline,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            seed=seed,
            steps=spec.steps,
            guidance=spec.guidance,
            width=spec.width,
            height=spec.height,
        )

    def execute(
        self, spec: ImageInput, seed: int, secret: bytes, runner: TrajectoryRunner
    ) -> tuple[Execution, Trajectory]:
        """Generate keeping the trajectory (through `runner`: the conduct's), and commit."""
        from PIL import Image

        from inference.audit.calibrated import DIFFUSION_SKETCH
        from inference.audit.diffusion import commit_trajectory
        from inference.audit.sketch import DESIGNS
        from inference.determinism import deterministic
        from inference.digests import digest_image
        from inference.runners import encode_png

        with self.lock, deterministic(self.threads):
            job = self.job(spec, seed)
            trajectory = runner(job)
            design = DESIGNS[DIFFUSION_SKETCH[self.model.name]]
            commitment = commit_trajectory(job, trajectory, design, secret)
        image = Image.fromarray(trajectory.image)
        digest = digest_image(image, self.model.manifest.digest_scheme)
        return Execution(bytes(digest), commitment, bytes(encode_png(image))), trajectory

    def audit(
        self,
        spec: ImageInput,
        indices: Sequence[int],
        served: dict[int, torch.Tensor],
    ) -> tuple[bytes, bytes]:
        """The auditor's digest (its sketch of each challenged step, recomputed from the served
        input latent, or from its own recomputation of the step before when that was challenged
        too) and the image digest of the final latent decoded (served, or recomputed when the
        last step was challenged), for the caller to hold against the executor's result."""
        from PIL import Image

        from inference.audit.calibrated import DIFFUSION_SKETCH
        from inference.audit.diffusion import recompute_step, sketch_of_step
        from inference.audit.sketch import DESIGNS
        from inference.determinism import deterministic
        from inference.digests import digest_image

        design = DESIGNS[DIFFUSION_SKETCH[self.model.name]]
        sketches: dict[int, bytes] = {}
        with self.lock, deterministic(self.threads):
            job = self.job(spec, seed=1)  # the seed only makes x_0, which the auditor is served
            own: dict[int, torch.Tensor] = {}
            for t in sorted(set(indices)):
                before = served[t] if t in served else own[t]
                after = recompute_step(job, t, before)
                own[t + 1] = after
                sketches[t] = sketch_of_step(job, design, t, before, after)
            final = own[spec.steps] if spec.steps in own else served[spec.steps]
            image = Image.fromarray(job.decode(final))
        result = digest_image(image, self.model.manifest.digest_scheme)
        return lane_digest([sketches[t] for t in indices]), bytes(result)


def verify_evidence(
    root: bytes, steps: Sequence[int], body: dict[str, Any]
) -> dict[int, torch.Tensor] | None:
    """The served latents of `steps`, each proven at its leaf under `root`; None if any is
    missing or unproven."""
    from inference.audit.diffusion import state_payload

    latents: dict[int, torch.Tensor] = {}
    items = {int(item["step"]): item for item in body.get("latents", [])}
    for t in steps:
        item = items.get(t)
        if item is None:
            return None
        latent = decode_latent(item["latent"])
        proof = [bytes.fromhex(str(p).removeprefix("0x")) for p in item["proof"]]
        if not verify_proof(root, t, state_payload(latent), proof):
            return None
        latents[t] = latent
    return latents


class EvidenceStore:
    """The executor's kept trajectories, one folder per task under the node's data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, task_id: int) -> Path:
        return self.root / str(task_id)

    def save(self, task_id: int, execution: Execution, trajectory: Trajectory) -> None:
        import torch

        folder = self._dir(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(list(trajectory.latents), folder / "latents.pt")
        (folder / "result.png").write_bytes(execution.png)
        kept = {
            "secret": execution.commitment.secret.hex(),
            "sketches": [s.hex() for s in execution.commitment.sketches],
            "evidence": [leaf.hex() for leaf in _evidence_payloads(trajectory)],
            "result_digest": execution.result_digest.hex(),
        }
        tmp = folder / "commitment.json.tmp"
        tmp.write_text(json.dumps(kept))
        os.replace(tmp, folder / "commitment.json")

    def has(self, task_id: int) -> bool:
        return (self._dir(task_id) / "commitment.json").exists()

    def commitment(self, task_id: int) -> Commitment:
        kept = json.loads((self._dir(task_id) / "commitment.json").read_text())
        return Commitment.build(
            [bytes.fromhex(p) for p in kept["evidence"]],
            [bytes.fromhex(s) for s in kept["sketches"]],
            bytes.fromhex(kept["secret"]),
        )

    def result_digest(self, task_id: int) -> bytes:
        kept = json.loads((self._dir(task_id) / "commitment.json").read_text())
        return bytes.fromhex(kept["result_digest"])

    def latents(self, task_id: int) -> list[torch.Tensor]:
        import torch

        loaded: list[torch.Tensor] = torch.load(self._dir(task_id) / "latents.pt")
        return loaded

    def png(self, task_id: int) -> bytes | None:
        path = self._dir(task_id) / "result.png"
        return path.read_bytes() if path.exists() else None

    def evidence_body(self, task_id: int, steps: Sequence[int]) -> dict[str, Any]:
        """The served latents of `steps` with their proofs under the evidence root."""
        commitment = self.commitment(task_id)
        latents = self.latents(task_id)
        return {
            "latents": [
                {
                    "step": t,
                    "latent": encode_latent(latents[t]),
                    "proof": ["0x" + p.hex() for p in commitment.evidence.proof(t)],
                }
                for t in steps
            ]
        }


def _evidence_payloads(trajectory: Trajectory) -> list[bytes]:
    from inference.audit.diffusion import state_payload

    return [state_payload(latent) for latent in trajectory.latents]
