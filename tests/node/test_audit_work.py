"""The audited mode's compute side on a node (no chain): what the executor serves, what the
auditor recomputes and commits, and that tampered evidence is refused."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from inference.models import load_model
from inference.specs import ImageInput, canonical_json
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST
from oracle.node.audit_image import ImageAuditor, served_leaves, verify_evidence
from oracle.node.audit_work import Claim, EvidenceStore
from oracle.node.conduct import HONEST

sys.path.append(str(Path(__file__).resolve().parents[1] / "contracts"))

SPEC = ImageInput(prompt="a lighthouse at dusk", width=64, height=64, steps=6)


def test_the_executor_never_serves_the_state_after_the_challenged_step() -> None:
    # The challenged step's input and the final latent x_n (its decode is the result), unless
    # the last step is challenged: x_n is then that step's output, which the auditor recomputes.
    assert served_leaves(0, 6) == [0, 6]
    assert served_leaves(4, 6) == [4, 6]
    assert served_leaves(5, 6) == [5]


@pytest.fixture(scope="module")
def auditor() -> ImageAuditor:
    return ImageAuditor(load_model("tiny-sd"), threads=1)


def test_an_honest_trajectory_audits_to_the_executors_digest_and_tampering_is_refused(
    auditor: ImageAuditor, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    execution = auditor.execute(11, canonical_json(SPEC), b"\x01" * 32, HONEST, store)
    kept = store.commitment(11)
    assert kept.evidence.root == execution.commitment.evidence.root
    assert kept.sketch_tree.root == execution.commitment.sketch_tree.root
    assert store.artifact(11) == (execution.artifact, "image/png")
    index = 5
    leaves = served_leaves(index, 6)
    assert leaves == [5]  # the last step is challenged: the auditor decodes its own x_6
    body = auditor.serve(store, 11, index)
    served = verify_evidence(kept.evidence.root, 7, leaves, body)
    assert served is not None
    digest, image = auditor.recompute(SPEC, index, served)
    assert digest == kept.sketches[index]
    assert image == execution.result_digest
    claim = Claim(
        canonical_json(SPEC),
        auditor.model.manifest.tolerance.to_uint32(),
        kept.evidence.root,
        execution.result_digest,
        6,
        index,
    )
    assert auditor.audit(claim, body) == digest
    # Another image's digest as the result: valid evidence that contradicts it.
    other = bytes(b ^ 0xFF for b in execution.result_digest[:8]) + execution.result_digest[8:]
    assert auditor.audit(replace(claim, result_digest=other), body) == EVIDENCE_WITHHELD_DIGEST
    # With the last step unchallenged the executor serves x_6, whose decode is the result.
    body_first = auditor.serve(store, 11, 1)
    served = verify_evidence(kept.evidence.root, 7, [1, 6], body_first)
    assert served is not None
    assert auditor.recompute(SPEC, 1, served) == (kept.sketches[1], image)
    # A latent that is not the committed one does not verify, nor one at another position.
    body["latents"][0]["latent"] = auditor.serve(store, 11, 2)["latents"][0]["latent"]
    assert verify_evidence(kept.evidence.root, 7, leaves, body) is None
    assert auditor.audit(claim, body) is None
    moved = auditor.serve(store, 11, 2)
    moved["latents"][0]["step"] = 3
    assert verify_evidence(kept.evidence.root, 7, [3], moved) is None
    assert verify_evidence(kept.evidence.root, 7, leaves, {"latents": []}) is None


def test_every_auditable_image_model_has_a_trajectory_on_the_node() -> None:
    """A model the registry can make auditable must be one the node's ImageAuditor can run step
    by step; otherwise an audited request for it would stall its executor until it is slashed.
    Digits-Gen is calibrated by the study but has no audit tolerance for that reason."""
    from inference.audit.calibrated import AUDIT_LANE_TOLERANCE, auditable
    from inference.models import builtin_models
    from inference.specs import parse_input

    images = [n for n in AUDIT_LANE_TOLERANCE if load_model(n).kind == "image"]
    assert images == ["tiny-sd"]
    for name in images:
        model = load_model(name)
        spec = parse_input("image", b'{"prompt": "a fox"}', model.manifest.defaults)
        assert isinstance(spec, ImageInput)
        assert ImageAuditor(model, threads=1).job(spec, seed=1).steps == spec.steps
    assert "digits" in builtin_models() and not auditable("image", "digits")


def test_audited_images_refuse_inputs_their_tolerance_was_not_measured_for() -> None:
    """Guidance and size move honest step sketches; past what the audit study measured within
    the audit tolerance, executor and auditors refuse the input alike (invalid input: nobody is
    slashed for a requester's choice)."""
    from inference.errors import InvalidInputError

    auditor = ImageAuditor(load_model("tiny-sd"), threads=1)
    assert auditor.spec(canonical_json(SPEC.model_copy(update={"guidance": 10.0}))).guidance == 10.0
    with pytest.raises(InvalidInputError, match="guidance up to 10"):
        auditor.spec(canonical_json(SPEC.model_copy(update={"guidance": 15.0})))
    with pytest.raises(InvalidInputError, match="up to 256 px"):
        auditor.spec(canonical_json(SPEC.model_copy(update={"width": 512, "height": 512})))


@pytest.mark.parametrize("steps", [6, 10, 20])
def test_the_demos_lazy_executor_is_off_at_every_step(auditor: ImageAuditor, steps: int) -> None:
    """The lazy executor of the demo and the end-to-end tests runs half the steps and stretches
    them onto the claimed ones: whichever single step is challenged, the auditors' recomputation
    is outside the audit tolerance, so the demo catches it every time (skipping the denoiser on
    every other step would be caught only when a skipped step is challenged)."""
    from inference.audit.calibrated import AUDIT_LANE_TOLERANCE, DIFFUSION_SKETCH
    from inference.audit.diffusion import audit_step_sketch, step_sketches
    from inference.audit.sketch import DESIGNS
    from inference.determinism import deterministic
    from inference.digests import lane_distances
    from oracle.dev.dishonest import half_steps_trajectory

    design = DESIGNS[DIFFUSION_SKETCH["tiny-sd"]]
    spec = SPEC.model_copy(update={"steps": steps})
    with deterministic(1):
        job = auditor.job(spec, seed=3)
        lazy = half_steps_trajectory(job)
        claimed = step_sketches(job, lazy, design)
        for t in range(steps):
            mine = audit_step_sketch(auditor.job(spec, seed=3), design, t, lazy.latents[t])
            assert max(lane_distances(mine, claimed[t])) > AUDIT_LANE_TOLERANCE["tiny-sd"], t
