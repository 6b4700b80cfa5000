"""The compute side of audited tasks on a node: one `Auditor` per model kind (images: the
diffusion trajectory, text: the greedy generation's tokens and hidden states), each executing,
serving its evidence and auditing through one small interface, with the executor's evidence kept
on disk (`EvidenceStore`) until the task ends.

Images. The executor keeps x_0..x_n (the latent before the first step and after each), the
secret its sketch salts derive from, and the sketches; the evidence tree commits to every latent,
the salted sketch tree to every step (inference/audit). It serves an auditor x_t of a challenged
step t only, never the x_{t+1} of a challenged step: where two challenged steps follow each other
the auditor chains its own recomputed latent into the next one.

Text. The evidence leaves are the generated token ids, the sketches those of the hidden state
that predicted each token. The executor serves every token with its proof (the auditor's
prefill needs them all; the result digest, sha256 of the tokens, already made them public, and
they reveal no hidden state). The auditor checks that the tokens are the result, and that each is
within the model's logit margin of its own argmax in one prefill, then sketches its hidden states
at the challenged positions.

Either way the auditor's digest takes 64-bit lane j from its sketch of challenged leaf j, as the
contract's opening of the executor's does; an auditor whose valid evidence contradicts the result
(an image that is not the trajectory's, tokens that are not the result or not greedy) commits
EVIDENCE_WITHHELD_DIGEST: the contract rejects the executor when a majority of auditors reveal it,
whatever sketches the executor opens (a reserved digest the executor could copy into its own
sketches would not be safe as an ordinary vote).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from inference.audit.merkle import Commitment, verify_proof
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST, compared_digest

if TYPE_CHECKING:
    import torch

    from inference.audit.diffusion import DiffusersSteps, Trajectory
    from inference.models import LoadedModel
    from inference.specs import ImageInput, TextInput
    from oracle.node.conduct import Conduct

TrajectoryRunner = Callable[["DiffusersSteps"], "Trajectory"]


def lane_digest(sketches: Sequence[bytes]) -> bytes:
    """The compared digest of the challenged leaves' sketches, in challenge order (lane j from
    sketches[j]: oracle.chain.audited.compared_digest, the contract's rule)."""
    return compared_digest(sketches, range(len(sketches)))


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
    tolerance, the executor's submission and the challenged leaves (in the contract's order)."""

    input: bytes
    tolerance: int
    evidence_root: bytes
    result_digest: bytes
    leaf_count: int
    indices: tuple[int, ...]


class Auditor(Protocol):
    """One loaded model's part in audited tasks, as executor and as auditor."""

    model: LoadedModel

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        """Generate the input (through the conduct), commit, and keep it in `store`; raises
        InvalidInputError for an input the model refuses."""
        ...

    def serve(self, store: EvidenceStore, task_id: int, indices: Sequence[int]) -> dict[str, Any]:
        """The evidence a drawn auditor gets once the challenge `indices` exists, with proofs."""
        ...

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        """The digest to commit from the executor's served `body`: the lane digest of the
        recomputed sketches, EVIDENCE_WITHHELD_DIGEST when valid evidence contradicts the
        result; None while the body is not valid evidence (the caller asks again)."""
        ...


def auditor_for(model: LoadedModel, threads: int) -> Auditor:
    """The auditor of a model's kind."""
    return TextAuditor(model, threads) if model.kind == "text" else ImageAuditor(model, threads)


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


def _proof(item: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(str(p).removeprefix("0x")) for p in item["proof"]]


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


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


class ImageAuditor:
    """Audited image jobs of one loaded model (in the node's process, one at a time)."""

    def __init__(self, model: LoadedModel, threads: int) -> None:
        self.model = model
        self.threads = threads
        self.lock = threading.Lock()

    def spec(self, data: bytes) -> ImageInput:
        from inference.specs import ImageInput, parse_input

        spec = parse_input("image", data, self.model.manifest.defaults)
        assert isinstance(spec, ImageInput)
        return spec

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

    # -- the Auditor interface -------------------------------------------------------------

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        import torch

        from inference.seeds import resolve_seed

        spec = self.spec(data)
        self.model.image_backend.validate(spec)
        seed = resolve_seed(spec.seed, task_id, b"")
        execution, trajectory = self.generate(spec, seed, secret, conduct.trajectory)
        torch.save(list(trajectory.latents), store.folder(task_id) / "latents.pt")
        store.save(task_id, execution)
        return execution

    def serve(self, store: EvidenceStore, task_id: int, indices: Sequence[int]) -> dict[str, Any]:
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
                for t in served_leaves(indices, steps)
            ]
        }

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        from inference.digests import Tolerance, digests_agree

        spec = self.spec(claim.input)
        if claim.leaf_count != spec.steps:
            # A tree of another length than the steps asked for is no trajectory of this input.
            return EVIDENCE_WITHHELD_DIGEST
        served = verify_evidence(
            claim.evidence_root, served_leaves(claim.indices, claim.leaf_count), body
        )
        if served is None:
            return None
        digest, image = self.recompute(spec, claim.indices, served)
        if not digests_agree(image, claim.result_digest, Tolerance.from_uint32(claim.tolerance)):
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
        if not verify_proof(root, t, state_payload(latent), _proof(item)):
            return None
        latents[t] = latent
    return latents


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def verify_tokens(root: bytes, leaf_count: int, body: dict[str, Any]) -> list[int] | None:
    """Every one of the `leaf_count` served tokens, each proven at its position under `root`;
    None if any is missing or unproven."""
    from inference.audit.text import token_payload

    items = {int(item["index"]): item for item in body.get("tokens", [])}
    tokens = []
    for index in range(leaf_count):
        item = items.get(index)
        if item is None:
            return None
        token = int(item["token"])
        if not 0 <= token < 1 << 32:
            return None
        if not verify_proof(root, index, token_payload(token), _proof(item)):
            return None
        tokens.append(token)
    return tokens


def greedy_shape(tokens: Sequence[int], max_new_tokens: int, eos: int | None) -> bool:
    """Whether tokens can be a generation of at most `max_new_tokens` that stops only where
    decoding stops: at the end-of-sequence token (last only) or at the length limit."""
    if not 1 <= len(tokens) <= max_new_tokens:
        return False
    if eos is not None and eos in tokens[:-1]:
        return False
    return len(tokens) == max_new_tokens or (eos is not None and tokens[-1] == eos)


class TextAuditor:
    """Audited text jobs of one loaded causal LM (greedy decoding only)."""

    def __init__(self, model: LoadedModel, threads: int) -> None:
        self.model = model
        self.threads = threads
        self.lock = threading.Lock()
        self.backend: Any = model.text_backend  # the transformers backend: model, tokenizer

    def spec(self, data: bytes) -> TextInput:
        from inference.errors import InvalidInputError
        from inference.specs import TextInput, parse_input

        spec = parse_input("text", data, self.model.manifest.defaults)
        assert isinstance(spec, TextInput)
        if spec.num_beams != 1:
            raise InvalidInputError("an audited text task decodes greedily (num_beams 1)")
        return spec

    def design_and_limits(self) -> tuple[Any, int, float]:
        from inference.audit.calibrated import TEXT_MARGIN, TEXT_SKETCH, TEXT_TOLERANCE
        from inference.audit.sketch import DESIGNS

        name = self.model.name
        return DESIGNS[TEXT_SKETCH], TEXT_TOLERANCE[name], TEXT_MARGIN[name]

    # -- the Auditor interface -------------------------------------------------------------

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        spec = self.spec(data)
        self.backend.validate(spec)
        execution = self.generate(spec, secret, conduct)
        store.save(task_id, execution)
        return execution

    def serve(self, store: EvidenceStore, task_id: int, indices: Sequence[int]) -> dict[str, Any]:
        commitment = store.commitment(task_id)
        return {
            "tokens": [
                {
                    "index": index,
                    "token": int.from_bytes(payload, "big"),
                    "proof": ["0x" + p.hex() for p in commitment.evidence.proof(index)],
                }
                for index, payload in enumerate(store.evidence(task_id))
            ]
        }

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        from inference.digests import digest_tokens

        spec = self.spec(claim.input)
        if not 1 <= claim.leaf_count <= spec.max_new_tokens:
            return EVIDENCE_WITHHELD_DIGEST  # more tokens than asked for, or none
        tokens = verify_tokens(claim.evidence_root, claim.leaf_count, body)
        if tokens is None:
            return None
        if digest_tokens(tokens) != claim.result_digest:
            return EVIDENCE_WITHHELD_DIGEST  # the result is not the committed tokens'
        if not greedy_shape(tokens, spec.max_new_tokens, self.backend._eos):
            return EVIDENCE_WITHHELD_DIGEST  # stopped early, or went on past its end
        return self.recompute(spec, tokens, claim.indices)

    # -- compute -----------------------------------------------------------------------------

    def generate(self, spec: TextInput, secret: bytes, conduct: Conduct) -> Execution:
        """Decode (through the conduct: greedy for an honest node) keeping the hidden states,
        and commit; the result digest is the replicated mode's digest of the tokens."""
        from inference.audit.text import commit_text, token_payload
        from inference.determinism import deterministic
        from inference.digests import digest_tokens
        from inference.runners import TEXT_MEDIA_TYPE

        design, _, _ = self.design_and_limits()
        prompt_ids = self.backend.prompt_ids(spec)
        with self.lock, deterministic(self.threads):
            run = conduct.text_run(
                self.backend._model, prompt_ids, spec.max_new_tokens, self.backend._eos
            )
            commitment = commit_text(run, design, secret)
        text = str(self.backend._tokenizer.decode(list(run.tokens), skip_special_tokens=True))
        return Execution(
            digest_tokens(run.tokens),
            commitment,
            text.encode("utf-8"),
            TEXT_MEDIA_TYPE,
            tuple(token_payload(t) for t in run.tokens),
        )

    def recompute(self, spec: TextInput, tokens: Sequence[int], indices: Sequence[int]) -> bytes:
        """One prefill over prompt + tokens: EVIDENCE_WITHHELD_DIGEST when a token is outside
        the model's margin of the auditor's argmax (not the greedy generation), else the lane
        digest of the auditor's hidden-state sketches at the challenged positions."""
        from inference.audit.text import prefill, within_margin
        from inference.determinism import deterministic

        design, _, margin = self.design_and_limits()
        prompt_ids = self.backend.prompt_ids(spec)
        with self.lock, deterministic(self.threads):
            state = prefill(self.backend._model, prompt_ids, tokens)
        if not within_margin(state.logits, tokens, margin):
            return EVIDENCE_WITHHELD_DIGEST
        return lane_digest([design.sketch(state.hidden[i]) for i in indices])
