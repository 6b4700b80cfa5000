"""Audited image tasks on a node (the `Auditor` of audit_work.py for diffusion models).

The executor keeps x_0..x_n (the latent before the first step and after each), the secret its
sketch salts derive from, and the sketches; the evidence tree commits to every latent, the salted
sketch tree to every step (inference/audit). It serves an auditor x_t of the challenged step t
and the final latent x_n, never x_{t+1} (when t is the last step the auditor decodes its own
recomputation). The auditor recomputes the challenged step and decodes the final latent, whose
image must be the result within the model's tolerance.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from inference.audit.merkle import verify_proof
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST
from oracle.node.audit_work import Claim, EvidenceStore, Execution, proof_of

if TYPE_CHECKING:
    import torch

    from inference.audit.diffusion import DiffusersSteps, Trajectory
    from inference.models import LoadedModel
    from inference.specs import ImageInput
    from oracle.node.conduct import Conduct

TrajectoryRunner = Callable[["DiffusersSteps"], "Trajectory"]


def served_leaves(index: int, steps: int) -> list[int]:
    """The evidence leaves the executor serves for challenged step `index`: its input latent and
    the final latent x_n, whose decode is the result, unless the last step is challenged (x_n is
    then that step's output, which the auditor recomputes and decodes itself)."""
    return [index] if index == steps - 1 else [index, steps]


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


class ImageAuditor:
    """Audited image jobs of one loaded model (in the node's process, one at a time)."""

    def __init__(
        self, model: LoadedModel, threads: int, commit_window_s: int | None = None
    ) -> None:
        self.model = model
        self.threads = threads
        self.commit_window_s = commit_window_s
        self.lock = threading.Lock()

    def spec(self, data: bytes) -> ImageInput:
        """The task's input, or InvalidInputError for one the model refuses: the replicated
        mode's rules (`check_input`: what the backend can run, the compute budget within the
        window) and the audited mode's own (the model's own scheduler, which the sketches follow;
        the guidance and size its audit tolerance was measured for).
        """
        from inference.audit.calibrated import check_audited_image
        from inference.errors import InvalidInputError
        from inference.runners import check_input
        from inference.specs import ImageInput, parse_input

        spec = parse_input("image", data, self.model.manifest.defaults)
        assert isinstance(spec, ImageInput)
        check_input(self.model, spec, self.commit_window_s)
        if spec.scheduler != "default":
            raise InvalidInputError(
                f"audited tasks use the model's own scheduler, not {spec.scheduler!r}"
            )
        check_audited_image(self.model.name, spec)
        return spec

    def job(self, spec: ImageInput, seed: int) -> DiffusersSteps:
        from inference.audit.diffusion import DiffusersSteps

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

    # -- the Auditor interface -------------------------------------------------------------

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        import torch

        from inference.seeds import resolve_seed

        spec = self.spec(data)
        seed = resolve_seed(spec.seed, task_id, b"")
        execution, trajectory = self.generate(spec, seed, secret, conduct.trajectory)
        torch.save(list(trajectory.latents), store.folder(task_id) / "latents.pt")
        store.save(task_id, execution)
        return execution

    def serve(self, store: EvidenceStore, task_id: int, index: int) -> dict[str, Any]:
        import torch

        commitment = store.commitment(task_id)
        steps = commitment.sketch_tree.size
        latents: list[torch.Tensor] = torch.load(store.folder(task_id) / "latents.pt")
        return {
            "latents": [
                {
                    "step": t,
                    "latent": encode_latent(latents[t]),
                    "proof": ["0x" + p.hex() for p in commitment.evidence.proof(t)],
                }
                for t in served_leaves(index, steps)
            ]
        }

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        from inference.digests import digests_agree

        spec = self.spec(claim.input)
        if claim.leaf_count != spec.steps:
            # A tree of another length than the steps asked for is no trajectory of this input.
            return EVIDENCE_WITHHELD_DIGEST
        served = verify_evidence(
            claim.evidence_root, claim.leaf_count + 1, served_leaves(claim.index, spec.steps), body
        )
        if served is None:
            return None
        digest, image = self.recompute(spec, claim.index, served)
        # The result is an image digest: held to the model's result tolerance (its honest floor),
        # not to the task's, which compares step sketches.
        if not digests_agree(image, claim.result_digest, self.model.manifest.tolerance):
            # A result that is not its committed trajectory's image has no valid evidence.
            return EVIDENCE_WITHHELD_DIGEST
        return digest

    # -- compute -----------------------------------------------------------------------------

    def generate(
        self, spec: ImageInput, seed: int, secret: bytes, runner: TrajectoryRunner
    ) -> tuple[Execution, Trajectory]:
        """Generate keeping the trajectory (through `runner`: the conduct's), and commit."""
        from PIL import Image

        from inference.audit.calibrated import DIFFUSION_SKETCH
        from inference.audit.diffusion import commit_trajectory, state_payload
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
        evidence = tuple(state_payload(latent) for latent in trajectory.latents)
        png = bytes(encode_png(image))
        return Execution(bytes(digest), commitment, png, "image/png", evidence), trajectory

    def recompute(
        self, spec: ImageInput, index: int, served: dict[int, torch.Tensor]
    ) -> tuple[bytes, bytes]:
        """The auditor's digest (its sketch of challenged step `index`, recomputed from the
        served input latent) and the image digest of the final latent decoded (served, or the
        recomputed one when the last step is challenged), for the caller to hold against the
        executor's result."""
        from PIL import Image

        from inference.audit.calibrated import DIFFUSION_SKETCH
        from inference.audit.diffusion import recompute_step, sketch_of_step
        from inference.audit.sketch import DESIGNS
        from inference.determinism import deterministic
        from inference.digests import digest_image

        design = DESIGNS[DIFFUSION_SKETCH[self.model.name]]
        with self.lock, deterministic(self.threads):
            job = self.job(spec, seed=1)  # the seed only makes x_0, which the auditor is served
            before = served[index]
            after = recompute_step(job, index, before)
            sketch = sketch_of_step(job, design, index, before, after)
            final = after if index == spec.steps - 1 else served[spec.steps]
            image = Image.fromarray(job.decode(final))
        result = digest_image(image, self.model.manifest.digest_scheme)
        return sketch, bytes(result)


def verify_evidence(
    root: bytes, size: int, steps: Sequence[int], body: dict[str, Any]
) -> dict[int, torch.Tensor] | None:
    """The served latents of `steps`, each proven at its leaf of the evidence tree of `size`
    leaves under `root`; None if any is missing or unproven."""
    from inference.audit.diffusion import state_payload

    latents: dict[int, torch.Tensor] = {}
    items = {int(item["step"]): item for item in body.get("latents", [])}
    for t in steps:
        item = items.get(t)
        if item is None:
            return None
        latent = decode_latent(item["latent"])
        if not verify_proof(root, size, t, state_payload(latent), proof_of(item)):
            return None
        latents[t] = latent
    return latents
