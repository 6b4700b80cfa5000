"""The audited mode's off-chain checks on the real tiny models: a step recomputed from an honest
trajectory matches within the study's tolerance and a faked one does not, the Merkle proofs the
contract will check, the text margin check, and the challenge sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.audit.calibrated import AUDIT_LANE_TOLERANCE, DIFFUSION_SKETCH
from inference.audit.challenge import challenge_indices, challenge_size, detection_probability
from inference.audit.diffusion import (
    AuditError,
    DiffusersSteps,
    audit_step_sketch,
    commit_trajectory,
    run_trajectory,
    state_payload,
)
from inference.audit.merkle import (
    MerkleTree,
    leaf_hash,
    leaf_salt,
    node_hash,
    salted_payload,
    verify_proof,
)
from inference.audit.sketch import DESIGNS, distance
from inference.audit.text import generate_with_hidden, prefill, token_gaps, within_margin
from inference.digests import lane_distances
from inference.hardware_noise import injected_noise
from inference.models import load_model
from inference.specs import ImageInput, TextInput
from inference.study.audit_impostors import lazy_trajectory
from inference.study.audit_steps import IMAGE_CALIBRATION_NOISE

SECRET = b"\x05" * 32


def payloads(n: int) -> list[bytes]:
    return [bytes([i]) * 32 for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_every_proof_verifies_and_a_tampered_leaf_does_not(n: int) -> None:
    leaves = payloads(n)
    tree = MerkleTree.build(leaves)
    for index, payload in enumerate(leaves):
        proof = tree.proof(index)
        assert verify_proof(tree.root, n, index, payload, proof)
        assert not verify_proof(tree.root, n, index, b"\xee" * 32, proof)
        assert not verify_proof(tree.root, n, index, payload, [*proof, tree.root])
        assert not verify_proof(tree.root, n, n, payload, proof)
        if n > 1:
            assert not verify_proof(tree.root, n, (index + 1) % n, payload, proof)
            assert not verify_proof(tree.root, n, index, payload, [b"\x00" * 32, *proof[1:]])
            assert not verify_proof(tree.root, n, index, payload, proof[:-1])


def test_tree_is_positional() -> None:
    """Double-hashed leaves over abi.encode(index, payload); inner nodes hash left then right,
    so swapping two children changes the root."""
    from eth_hash.auto import keccak

    a, b = payloads(2)
    assert leaf_hash(1, b) == keccak(keccak((1).to_bytes(32, "big") + b))
    root = MerkleTree.build([a, b]).root
    assert (
        root
        == keccak(leaf_hash(0, a) + leaf_hash(1, b))
        != node_hash(leaf_hash(1, b), leaf_hash(0, a))
    )


def test_challenge_is_a_deterministic_sample_of_distinct_steps() -> None:
    seed = b"\x09" * 32
    picked = challenge_indices(seed, 20, 4)
    assert picked == challenge_indices(seed, 20, 4)
    assert len(set(picked)) == 4 and all(0 <= i < 20 for i in picked)
    assert picked != challenge_indices(b"\x0a" * 32, 20, 4)
    assert challenge_indices(seed, 3, 8) == [0, 1, 2]
    assert detection_probability(0.5, 1) == 0.5
    assert detection_probability(0.25, 2, 20) > detection_probability(0.25, 2)
    assert challenge_size(0.5, 0.99) == 7


@pytest.fixture(scope="module")
def tiny_sd() -> object:
    return load_model("tiny-sd")


def job(model: object, seed: int = 4, steps: int = 10) -> DiffusersSteps:
    pipeline = model.image_backend._pipeline  # type: ignore[attr-defined]
    return DiffusersSteps(
        pipeline,
        prompt="A photo of a daisy",
        seed=seed,
        steps=steps,
        guidance=7.5,
        width=64,
        height=64,
    )


def test_with_steps_is_the_same_job_on_a_shorter_schedule(tiny_sd: object) -> None:
    """What the lazy executors run: bit for bit a fresh job of that many steps, the original
    left as it was."""
    from inference.audit.diffusion import DigitsSteps
    from inference.digits.sampling import load_unet
    from inference.digits.shipped import weights_path

    unet = load_unet(weights_path())
    pairs = [
        (job(tiny_sd, steps=10), job(tiny_sd, steps=5)),
        (DigitsSteps(unet, digit=3, seed=2, steps=10), DigitsSteps(unet, digit=3, seed=2, steps=5)),
    ]
    for full, fresh in pairs:
        before = run_trajectory(full)
        shorter, expected = run_trajectory(full.with_steps(5)), run_trajectory(fresh)
        assert shorter.steps == 5
        pairs_of_latents = zip(shorter.latents, expected.latents, strict=True)
        assert all(torch.equal(a, b) for a, b in pairs_of_latents)
        assert np.array_equal(shorter.image, expected.image)
        after = run_trajectory(full)
        assert after.steps == 10 and np.array_equal(after.image, before.image)


def test_trajectory_image_is_the_backend_image_bit_for_bit(tiny_sd: object) -> None:
    spec = ImageInput(prompt="A photo of a daisy", seed=4, steps=10, width=64, height=64)
    served = tiny_sd.image_backend.generate_images([spec], [4])[0]  # type: ignore[attr-defined]
    trajectory = run_trajectory(job(tiny_sd))
    assert trajectory.steps == 10
    assert np.array_equal(np.asarray(served.convert("RGB")), trajectory.image)


def test_honest_noisy_recomputation_matches_and_a_faked_step_does_not(tiny_sd: object) -> None:
    design = DESIGNS[DIFFUSION_SKETCH["tiny-sd"]]
    tolerance = AUDIT_LANE_TOLERANCE["tiny-sd"]  # per 64-bit lane, as the chain compares
    executor = job(tiny_sd)
    unet = tiny_sd.image_backend._pipeline.unet  # type: ignore[attr-defined]
    with injected_noise(unet, IMAGE_CALIBRATION_NOISE, [4], 0):
        honest = run_trajectory(executor)
    faked = lazy_trajectory(executor, [5])
    commitment = commit_trajectory(executor, honest, design, SECRET)
    fake_commitment = commit_trajectory(executor, faked, design, SECRET)
    auditor = job(tiny_sd)
    for index in range(honest.steps):
        with injected_noise(unet, IMAGE_CALIBRATION_NOISE, [100 + index], 1):
            mine = audit_step_sketch(auditor, design, index, honest.latents[index])
        assert max(lane_distances(mine, commitment.sketches[index])) <= tolerance, index
        # Real arithmetic differences: the native convolutions instead of oneDNN's.
        with torch.backends.mkldnn.flags(enabled=False):
            native = audit_step_sketch(auditor, design, index, honest.latents[index])
        assert max(lane_distances(native, commitment.sketches[index])) <= tolerance, index
    # Without noise an honest step recomputes bit for bit; the step that reused the previous
    # prediction instead of calling the denoiser is out of tolerance in every lane (so in
    # whichever lane of the compared digest a challenge puts it).
    before = audit_step_sketch(auditor, design, 4, faked.latents[4])
    assert distance(before, fake_commitment.sketches[4]) == 0
    skipped = audit_step_sketch(auditor, design, 5, faked.latents[5])
    assert min(lane_distances(skipped, fake_commitment.sketches[5])) > tolerance


def test_opened_sketch_verifies_against_the_sketch_root(tiny_sd: object) -> None:
    executor = job(tiny_sd, steps=4)
    trajectory = run_trajectory(executor)
    commitment = commit_trajectory(
        executor, trajectory, DESIGNS[DIFFUSION_SKETCH["tiny-sd"]], SECRET
    )
    for index in range(4):
        sketch, salt, proof = commitment.opening(index)
        assert salt == leaf_salt(SECRET, index)
        root = commitment.sketch_tree.root
        size = commitment.sketch_tree.size
        assert verify_proof(root, size, index, salted_payload(sketch, salt), proof)
        assert not verify_proof(root, size, index, salted_payload(bytes(32), salt), proof)
        evidence = commitment.evidence
        assert verify_proof(
            evidence.root,
            evidence.size,
            index,
            state_payload(trajectory.latents[index]),
            evidence.proof(index),
        )


def test_a_scheduler_that_keeps_state_is_refused(tiny_sd: object) -> None:
    import diffusers

    pipeline = tiny_sd.image_backend._pipeline  # type: ignore[attr-defined]
    pndm = diffusers.PNDMScheduler.from_config(pipeline.scheduler.config)
    with pytest.raises(AuditError, match="PNDMScheduler keeps state"):
        DiffusersSteps(
            pipeline,
            prompt="x",
            seed=1,
            steps=4,
            guidance=7.5,
            width=64,
            height=64,
            scheduler=pndm,
        )


def test_margin_check_accepts_greedy_tokens_and_rejects_a_substitute() -> None:
    backend = load_model("tiny-llama").text_backend
    spec = TextInput(prompt="Write one sentence about owls.", max_new_tokens=16)
    prompt_ids = backend.prompt_ids(spec)
    model = backend._model  # type: ignore[attr-defined]
    run = generate_with_hidden(model, prompt_ids, 16, eos=backend._eos)  # type: ignore[attr-defined]
    assert list(run.tokens) == backend.generate_tokens([spec])[0][0]
    audit = prefill(model, prompt_ids, run.tokens)
    assert within_margin(audit.logits, run.tokens, 0.0)
    design = DESIGNS["q0.03-state"]
    assert all(
        distance(design.sketch(a), design.sketch(b)) <= 2
        for a, b in zip(run.hidden, audit.hidden, strict=True)
    )
    swapped = list(run.tokens)
    swapped[5] = int(np.argmin(audit.logits[5]))
    assert token_gaps(audit.logits, swapped)[5] > 1.0
    assert not within_margin(prefill(model, prompt_ids, swapped).logits, swapped, 1.0)


def test_sketches_are_graded() -> None:
    """A relative change of 1e-4 moves a few bits of q0.1, one of 1e-1 about half of them."""
    rng = np.random.default_rng(3)
    vector = rng.standard_normal(1024)
    design = DESIGNS["q0.1-prediction"]
    near = distance(
        design.sketch(vector), design.sketch(vector * (1 + 1e-4 * rng.standard_normal(1024)))
    )
    far = distance(design.sketch(vector), design.sketch(vector + 0.3 * rng.standard_normal(1024)))
    assert near <= 3 < 60 <= far
    assert torch.get_num_threads() >= 1
