"""The training worker is deterministic, and the round digest is graded: an honest thread-count
or micro-batch variant stays within the round tolerance, an impostor moves far."""

from __future__ import annotations

import pytest

from inference.digests import digests_agree, lane_distances
from inference.digits.shipped import weights_path
from inference.training.checkpoint import CheckpointError, checkpoint_sha256, load_checkpoint
from inference.training.data import TrainingData, demo_dataset
from inference.training.digest import ROUND_TOLERANCE, RoundDigest, round_digest
from inference.training.rounds import decide_round
from inference.training.spec import TrainingSpec
from inference.training.worker import RoundRun, honest_run, train_round


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return demo_dataset(examples=64)


@pytest.fixture(scope="module")
def spec(data: TrainingData) -> TrainingSpec:
    return TrainingSpec(
        base_model="digits",
        data_sha256=data.sha256(),
        learning_rate=5e-4,
        batch_size=8,
        seed=3,
        rounds=2,
        steps_per_round=3,
    )


@pytest.fixture(scope="module")
def base() -> bytes:
    return weights_path().read_bytes()


@pytest.fixture(scope="module")
def reference(base: bytes, data: TrainingData, spec: TrainingSpec) -> bytes:
    return train_round(base, data, spec, 0)


def test_same_spec_same_checkpoint(
    base: bytes, data: TrainingData, spec: TrainingSpec, reference: bytes
) -> None:
    again = train_round(base, data, spec, 0)
    assert checkpoint_sha256(again) == checkpoint_sha256(reference)
    other_round = train_round(base, data, spec, 1)
    assert checkpoint_sha256(other_round) != checkpoint_sha256(reference)
    with pytest.raises(CheckpointError, match="expected"):
        load_checkpoint(reference, "00" * 32)
    with pytest.raises(ValueError, match="micro-batches"):
        train_round(base, data, spec, 0, honest_run(spec, micro_batches=3))


def test_round_digest_is_graded(
    base: bytes, data: TrainingData, spec: TrainingSpec, reference: bytes
) -> None:
    def digest(checkpoint: bytes, threads: int = 1) -> RoundDigest:
        return round_digest(checkpoint, base, spec.learning_rate, threads)

    ref = digest(reference)
    threads2 = digest(train_round(base, data, spec, 0, honest_run(spec, threads=2)), 2)
    split = digest(train_round(base, data, spec, 0, honest_run(spec, micro_batches=2)))
    lower_lr = digest(train_round(base, data, spec, 0, RoundRun(3, spec.learning_rate / 2)))
    resubmitted = digest(base)
    for honest in (threads2, split):
        assert digests_agree(ref.digest, honest.digest, ROUND_TOLERANCE), lane_distances(
            ref.digest, honest.digest
        )
    for impostor in (lower_lr, resubmitted):
        distances = lane_distances(ref.digest, impostor.digest)
        assert not digests_agree(ref.digest, impostor.digest, ROUND_TOLERANCE)
        assert max(distances[1], distances[3]) >= 20, distances
    members = [ref, threads2, lower_lr]
    outcome = decide_round(
        [m.digest for m in members], [m.checkpoint_sha256 for m in members], ROUND_TOLERANCE
    )
    assert outcome.resolved and outcome.agreeing == (0, 1)
    assert outcome.canonical == min((0, 1), key=lambda i: members[i].checkpoint_sha256)
