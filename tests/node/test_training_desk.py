"""The training desk's pure logic: content-addressed stores, where a start checkpoint is fetched
from, refusing bytes whose sha256 (or content) is wrong and trying the next member, and checking
a request's spec against the request."""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import pytest

from inference.training.data import TrainingDataError, demo_dataset, parse_data
from inference.training.spec import TrainingSpec
from oracle.dev.dishonest import CONDUCTS
from oracle.node.conduct import HONEST
from oracle.node.training_store import (
    BlobStore,
    Rejection,
    checkpoint_sources,
    fetch_verified,
    request_problem,
)

A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
C = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
GOOD = b"the canonical checkpoint"
WANTED = sha256(GOOD).hexdigest()


def endpoints(member: str) -> str | None:
    return {A: "http://a", B: "http://b/", C: None}.get(member)


def test_checkpoint_sources_start_with_the_canonical_member_then_every_same_revealer() -> None:
    revealed = {C: WANTED, B: WANTED, A: "00" * 32}
    sources = checkpoint_sources(A, revealed, WANTED, endpoints, me="0x" + "11" * 20)
    assert sources == [
        (A, f"http://a/training/checkpoints/{WANTED}"),
        (B, f"http://b/training/checkpoints/{WANTED}"),
    ]  # C revealed it but has no endpoint; A's own reveal differs yet it is the canonical one


def test_checkpoint_sources_never_name_this_node() -> None:
    assert checkpoint_sources(A, {A: WANTED}, WANTED, endpoints, me=A) == []


def test_a_checkpoint_with_another_sha256_is_refused_and_the_next_member_tried() -> None:
    served = {"http://a/x": b"tampered", "http://b/x": GOOD}
    rejected: list[Rejection] = []
    data = fetch_verified(
        WANTED, [(A, "http://a/x"), (B, "http://b/x")], served.get, rejected.append
    )
    assert data == GOOD
    assert [(r.what, r.source) for r in rejected] == [("checkpoint", A)]
    assert WANTED in rejected[0].reason and sha256(b"tampered").hexdigest() in rejected[0].reason


def test_nothing_served_is_none_and_an_unreachable_member_is_not_a_rejection() -> None:
    rejected: list[Rejection] = []
    assert fetch_verified(WANTED, [(A, "http://a/x")], lambda url: None, rejected.append) is None
    assert rejected == []
    bad = {"http://a/x": b"nope"}
    assert fetch_verified(WANTED, [(A, "http://a/x")], bad.get, rejected.append) is None
    assert len(rejected) == 1


def test_data_with_the_right_hash_but_bad_content_is_refused() -> None:
    junk = b"not training data"
    rejected: list[Rejection] = []

    def check(data: bytes) -> None:
        try:
            parse_data(data)
        except TrainingDataError as exc:
            raise ValueError(str(exc)) from None

    served = {"http://a/d": junk}
    digest = sha256(junk).hexdigest()
    assert (
        fetch_verified(digest, [(A, "http://a/d")], served.get, rejected.append, "data", check)
        is None
    )
    assert rejected[0].what == "data" and "GODATA1" in rejected[0].reason


def test_blob_store_is_content_addressed_and_checks_on_read(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", ".bin")
    digest = store.put(GOOD)
    assert digest == WANTED and store.has(WANTED) and store.get("0x" + WANTED) == GOOD
    store.path(WANTED).write_bytes(b"corrupted on disk")
    assert store.get(WANTED) is None
    assert store.get("ab" * 32) is None


def request_args(spec: TrainingSpec, base: bytes) -> dict[str, object]:
    return {
        "baseModelId": base,
        "dataHash": bytes.fromhex(spec.data_sha256),
        "seed": spec.seed,
        "rounds": spec.rounds,
        "stepsPerRound": spec.steps_per_round,
    }


def make_spec(**changes: object) -> TrainingSpec:
    values: dict[str, object] = {
        "base_model": "digits",
        "data_sha256": demo_dataset(examples=8).sha256(),
        "learning_rate": 5e-4,
        "batch_size": 8,
        "seed": 7,
        "rounds": 2,
        "steps_per_round": 3,
    }
    values.update(changes)
    return TrainingSpec.model_validate(values)


def test_a_spec_that_says_what_its_request_says_is_trainable() -> None:
    base = b"\x01" * 32
    spec = make_spec()
    parsed, problem = request_problem(spec.canonical_json(), request_args(spec, base), ["digits"])
    assert problem is None and parsed == spec
    by_id = make_spec(base_model="0x" + base.hex())
    assert request_problem(by_id.canonical_json(), request_args(by_id, base), [])[1] is None


def test_a_spec_that_contradicts_its_request_or_does_not_parse_is_a_problem() -> None:
    base = b"\x01" * 32
    spec = make_spec()
    args = request_args(spec, base) | {"seed": 8, "stepsPerRound": 4}
    _, problem = request_problem(spec.canonical_json(), args, ["digits"])
    assert problem is not None and "seed" in problem and "steps_per_round" in problem
    _, problem = request_problem(spec.canonical_json(), request_args(spec, base), ["other"])
    assert problem is not None and "base_model" in problem
    _, problem = request_problem(b"{not json", request_args(spec, base), ["digits"])
    assert problem is not None and "JSON" in problem
    broken = json.dumps({**json.loads(spec.canonical_json()), "learning_rate": -1}).encode()
    assert request_problem(broken, request_args(spec, base), ["digits"])[1] is not None


@pytest.mark.parametrize("steps", [1, 2, 10])
def test_the_lazy_trainer_runs_half_the_steps_and_the_honest_conduct_all(steps: int) -> None:
    from inference.training.worker import honest_run

    run = honest_run(make_spec(steps_per_round=steps))
    assert HONEST.training_run(run) == run
    assert CONDUCTS["lazy-trainer"].training_run(run).steps == max(1, steps // 2)
    # The demo's lazy operator cuts the same corner as a training member.
    assert CONDUCTS["lazy"].training_run(run) == CONDUCTS["lazy-trainer"].training_run(run)


class FakeDesk:
    """The desk as the routes see it: one revealed checkpoint, one task's data."""

    def __init__(self) -> None:
        self.pushed: list[bytes] = []

    def served_checkpoint(self, digest: str) -> bytes | None:
        return GOOD if digest == WANTED else None

    def served_data(self, digest: str) -> bytes | None:
        return None

    def accept_data(self, data: bytes, source: str) -> tuple[bool, str]:
        self.pushed.append(data)
        return (True, "") if data == b"wanted" else (False, "no open training task's data hash")

    def status(self, task_id: int) -> dict[str, object] | None:
        return {"task_id": str(task_id), "rejections": []} if task_id == 5 else None


def test_training_routes_serve_by_sha256_and_refuse_unknown_pushes() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from oracle.node.training_api import add_training_routes

    app = FastAPI()
    desk = FakeDesk()
    add_training_routes(app, desk)
    client = TestClient(app)
    served = client.get(f"/training/checkpoints/0x{WANTED.upper()}")
    assert served.status_code == 200 and served.content == GOOD
    assert client.get(f"/training/checkpoints/{'ab' * 32}").status_code == 404
    assert client.get("/training/checkpoints/not-a-hash").status_code == 400
    assert client.get(f"/training/data/{WANTED}").status_code == 404
    assert client.post("/training/data", content=b"wanted").json() == {"kept": True}
    refused = client.post("/training/data", content=b"something else")
    assert refused.status_code == 422 and "data hash" in refused.text
    assert client.get("/training/tasks/5").json()["task_id"] == "5"
    assert client.get("/training/tasks/6").status_code == 404
