"""Compute budgets: every valid input gets a deterministic cost, and one over the budget of the
deployment's commit window is answered as invalid before any expensive work.

The issue this guards: 1024 px x 8 steps (the schema allows 150) took 80 s per node against a
60 s commit window, so every member missed it and was slashed.
"""

from __future__ import annotations

import json
import shutil
import time
from hashlib import sha256
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter

from inference.compute_budget import (
    BUDGET_SHARE,
    MAX_TASK_SECONDS,
    REFERENCE_SAFETY_FACTOR,
    CausalLMBudget,
    ComputeBudget,
    DiffusionBudget,
    check_units,
    effective_budget,
    image_units,
    latent_pixels,
    text_units,
)
from inference.digests import INVALID_INPUT_DIGEST
from inference.errors import InvalidInputError, ManifestError
from inference.manifest import MANIFEST_FILE, ModelManifest, load_manifest
from inference.models import LoadedModel, build_builtin, default_cache, load_model
from inference.runners import check_budget, cost_units, generate, run_request
from inference.specs import ChatMessage, ImageInput, TextInput
from inference.tiny_models import TINY_LLAMA_BUDGET, TINY_SD_BUDGET

#: The issue's input: valid under the schema, far over any one-minute budget.
ISSUE_INPUT = {"prompt": "a lighthouse", "width": 1024, "height": 1024, "steps": 8}


@pytest.fixture(scope="module")
def tiny_sd() -> LoadedModel:
    return default_cache().get("tiny-sd")


@pytest.fixture(scope="module")
def tiny_llama() -> LoadedModel:
    return default_cache().get("tiny-llama")


# -- the cost models -----------------------------------------------------------------------------

BUDGET = DiffusionBudget(
    max_units=10**9,
    min_units_per_second=1000,
    attention_latent_pixels=4096,
    evaluation_overhead=100,
    decode_evaluations=10,
)


def test_the_diffusion_cost_is_its_formula_in_integers() -> None:
    spec = ImageInput(prompt="x", width=512, height=256, steps=20)
    latent = latent_pixels(512, 256)
    assert latent == 64 * 32
    per_evaluation = latent + latent * latent // 4096 + 100
    assert image_units(BUDGET, spec, evaluations=40) == 40 * per_evaluation + 10 * latent
    plain = BUDGET.model_copy(update={"attention_latent_pixels": 0})
    assert image_units(plain, spec, evaluations=1) == latent + 100 + 10 * latent


def test_the_text_cost_counts_beams_prompt_and_weighted_new_tokens() -> None:
    budget = CausalLMBudget(max_units=10**9, min_units_per_second=10, generated_token_weight=16)
    spec = TextInput(prompt="x", max_new_tokens=32, num_beams=4)
    assert text_units(budget, spec, prompt_tokens=7) == 4 * (7 + 16 * 32)


def test_guidance_doubles_the_evaluations_only_above_one(tiny_sd: LoadedModel) -> None:
    """diffusers runs classifier-free guidance (a doubled UNet batch) for guidance > 1 only."""
    backend = tiny_sd.image_backend
    for guidance, factor in ((0.0, 1), (1.0, 1), (1.01, 2), (7.5, 2)):
        spec = ImageInput(prompt="x", steps=10, guidance=guidance, width=64, height=64)
        assert backend.denoiser_evaluations(spec) == 10 * factor, guidance


def test_evaluations_follow_the_scheduler_timesteps(tiny_sd: LoadedModel) -> None:
    """PNDM adds Runge-Kutta warm-up calls; below 4 steps it cannot run at all, which used to
    fail inside the pipeline (a miss for every member) and is now an invalid input."""
    backend = tiny_sd.image_backend
    for scheduler in ("default", "ddim", "euler", "dpm++", "unipc"):
        spec = ImageInput(prompt="x", steps=12, guidance=0.0, scheduler=scheduler)
        assert backend.denoiser_evaluations(spec) == 12, scheduler
    pndm = ImageInput(prompt="x", steps=10, guidance=0.0, scheduler="pndm")
    assert backend.denoiser_evaluations(pndm) == 19
    short = pndm.model_copy(update={"steps": 3})
    with pytest.raises(InvalidInputError, match="'pndm' cannot run 3 steps"):
        backend.denoiser_evaluations(short)
    raw = json.dumps({"prompt": "x", "steps": 3, "scheduler": "pndm", "width": 64, "height": 64})
    result = run_request(tiny_sd, raw.encode())
    assert result.digest == INVALID_INPUT_DIGEST


def test_prompt_tokens_are_counted_after_the_chat_template(tiny_llama: LoadedModel) -> None:
    chat = TextInput(messages=[ChatMessage(role="user", content="Hi")], max_new_tokens=10)
    plain = TextInput(prompt="Hi", max_new_tokens=10)
    templated = len(tiny_llama.text_backend.prompt_ids(chat))
    assert templated > len(tiny_llama.text_backend.prompt_ids(plain))  # the template's tokens
    weight = TINY_LLAMA_BUDGET.generated_token_weight
    assert cost_units(tiny_llama, chat) == templated + weight * 10


def test_costs_grow_with_every_dimension(tiny_sd: LoadedModel) -> None:
    base = ImageInput(prompt="x", width=256, height=256, steps=10)
    cost = cost_units(tiny_sd, base)
    assert cost is not None
    for bigger in (
        base.model_copy(update={"steps": 11}),
        base.model_copy(update={"width": 264}),
        base.model_copy(update={"height": 264}),
    ):
        assert (cost_units(tiny_sd, bigger) or 0) > cost
    unguided = cost_units(tiny_sd, base.model_copy(update={"guidance": 1.0}))
    assert unguided is not None and unguided < cost


# -- the budget of a task ------------------------------------------------------------------------


def test_the_budget_is_a_share_of_the_window_at_the_slowest_rate_capped() -> None:
    budget = DiffusionBudget(max_units=1_000_000, min_units_per_second=9_000)
    assert BUDGET_SHARE == 0.5
    assert effective_budget(budget, 60) == 270_000  # 60 s x 9000/s x 1/2
    assert effective_budget(budget, 61) == 274_500
    assert effective_budget(budget, 7) == 31_500
    assert effective_budget(budget, 600) == 1_000_000  # the cap
    assert effective_budget(budget, None) == 1_000_000
    odd = CausalLMBudget(max_units=10**6, min_units_per_second=47)
    assert effective_budget(odd, 61) == 61 * 47 // 2  # integers only: floor(1433.5)
    with pytest.raises(ValueError, match="positive"):
        effective_budget(budget, 0)


def test_the_builtin_budgets_follow_the_documented_rule() -> None:
    for budget in (TINY_SD_BUDGET, TINY_LLAMA_BUDGET):
        assert budget.max_units == budget.min_units_per_second * MAX_TASK_SECONDS
    assert REFERENCE_SAFETY_FACTOR >= 2


def test_an_over_budget_input_is_refused_with_the_reason_and_the_fix() -> None:
    budget = DiffusionBudget(max_units=1_000_000, min_units_per_second=9_000)
    check_units(budget, 270_000, 60)  # exactly the budget is allowed
    with pytest.raises(InvalidInputError) as caught:
        check_units(budget, 270_001, 60)
    reason = caught.value.reason
    for part in ("270,001", "270,000", "60 s commit window", "9,000", "fewer steps or a smaller"):
        assert part in reason, reason
    with pytest.raises(InvalidInputError, match="cap of 1,000,000"):
        check_units(budget, 1_000_001, None)
    text = CausalLMBudget(max_units=100, min_units_per_second=1)
    with pytest.raises(InvalidInputError, match="fewer max_new_tokens"):
        check_units(text, 101, None)


def test_the_issue_input_is_invalid_at_once_without_running_the_pipeline(
    tiny_sd: LoadedModel,
) -> None:
    """1024 px x 8 steps against a 60 s window: refused in milliseconds. Computing it takes
    tens of seconds of CPU here (and far more at the 150 steps the schema allows)."""
    raw = json.dumps(ISSUE_INPUT).encode()
    started = time.perf_counter()
    result = run_request(tiny_sd, raw, commit_window_s=60)
    elapsed = time.perf_counter() - started
    assert result.digest == INVALID_INPUT_DIGEST
    assert result.invalid_reason is not None and "60 s commit window" in result.invalid_reason
    assert elapsed < 1.0, elapsed
    spec = ImageInput.model_validate(ISSUE_INPUT)
    cost = cost_units(tiny_sd, spec)
    assert cost is not None and tiny_sd.manifest.compute_budget is not None
    rate = tiny_sd.manifest.compute_budget.min_units_per_second
    assert cost / rate > 60, "the slowest supported node could not even finish it in the window"
    # Without a window only the model's cap applies, which this input is under.
    check_budget(tiny_sd, spec)


def test_a_cheap_input_still_runs_under_a_short_window(tiny_sd: LoadedModel) -> None:
    spec = ImageInput(prompt="x", width=64, height=64, steps=2)
    result = generate(tiny_sd, spec, commit_window_s=10)
    assert result.invalid_reason is None and result.digest != INVALID_INPUT_DIGEST


def test_text_over_the_budget_is_invalid(tiny_llama: LoadedModel) -> None:
    raw = json.dumps({"prompt": "x" * 100, "max_new_tokens": 1000, "num_beams": 8}).encode()
    result = run_request(tiny_llama, raw, commit_window_s=10)
    assert result.digest == INVALID_INPUT_DIGEST
    assert result.invalid_reason is not None and "token equivalents" in result.invalid_reason


# -- manifests -----------------------------------------------------------------------------------


@pytest.fixture
def llama_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-llama"
    shutil.copytree(build_builtin("tiny-llama"), folder)
    return folder


def _edit_budget(folder: Path, **changes: object) -> None:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text())
    budget = data["compute_budget"]
    for key, value in changes.items():
        if value is None:
            budget.pop(key, None)
        else:
            budget[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_units": None}, r"compute_budget\.causal-lm/1\.max_units\s+Field required"),
        ({"min_units_per_second": -5}, r"min_units_per_second\s+Input should be greater than 0"),
        ({"max_units": 0}, r"max_units\s+Input should be greater than 0"),
        ({"min_units_per_second": 2.5}, r"min_units_per_second\s+Input should be a valid int"),
        ({"generated_token_weight": 0}, r"generated_token_weight\s+Input should be greater"),
        ({"cost_model": None}, r"Unable to extract tag using discriminator 'cost_model'"),
        (
            {"cost_model": "diffusion/1", "generated_token_weight": None},
            "text models price inputs with the 'causal-lm/1'",
        ),
        ({"tokens_per_second": 3}, r"tokens_per_second\s+Extra inputs are not permitted"),
    ],
    ids=["no-max", "negative-rate", "zero-max", "float-rate", "zero-weight", "no-model",
         "wrong-model", "unknown-field"],
)  # fmt: skip
def test_bad_budget_fields_are_refused_by_name(
    llama_copy: Path, changes: dict[str, object], message: str
) -> None:
    _edit_budget(llama_copy, **changes)
    with pytest.raises(ManifestError, match=message):
        load_manifest(llama_copy)


def test_a_manifest_without_a_budget_keeps_its_model_id(llama_copy: Path) -> None:
    """Manifests written before budgets existed (an imported model) load, and their modelId is
    the one they had: an absent budget is left out of the canonical JSON, not written as null."""
    path = llama_copy / MANIFEST_FILE
    data = json.loads(path.read_text())
    del data["compute_budget"]
    path.write_text(json.dumps(data))
    manifest = load_manifest(llama_copy)
    assert manifest.compute_budget is None
    old_canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert manifest.model_id == sha256(old_canonical).digest()
    assert b"compute_budget" not in manifest.canonical_json()
    budgeted = ModelManifest.model_validate({**data, "compute_budget": TINY_LLAMA_BUDGET})
    assert budgeted.model_id != manifest.model_id  # the budget is part of the model's identity
    # It still runs (the CLI and the study need no budget); only a node refuses it.
    assert load_model(str(llama_copy)).manifest.compute_budget is None


def test_a_cached_builtin_built_before_budgets_gets_its_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Like a recalibrated tolerance: a cached build is brought up to date, not refused."""
    source = build_builtin("tiny-llama")
    monkeypatch.setenv("GENORACLE_HOME", str(tmp_path))
    cached = tmp_path / "models" / "tiny-llama"
    shutil.copytree(source, cached)
    data = json.loads((cached / MANIFEST_FILE).read_text())
    del data["compute_budget"]
    (cached / MANIFEST_FILE).write_text(json.dumps(data))
    before = load_manifest(cached)
    model = load_model("tiny-llama")
    assert model.manifest.compute_budget == TINY_LLAMA_BUDGET
    assert load_manifest(cached).compute_budget == TINY_LLAMA_BUDGET  # written back
    assert model.model_id != before.model_id
    assert model.manifest.files == before.files


def test_models_manifest_takes_a_budget(tmp_path: Path) -> None:
    from inference.cli import models

    folder = tmp_path / "imported"
    shutil.copytree(build_builtin("tiny-llama"), folder)
    (folder / MANIFEST_FILE).unlink()
    budget = {"cost_model": "causal-lm/1", "max_units": 1000, "min_units_per_second": 10}
    outcome = CliRunner().invoke(models, ["manifest", str(folder), "--budget", json.dumps(budget)])
    assert outcome.exit_code == 0, outcome.output
    written = load_manifest(folder).compute_budget
    assert written == TypeAdapter(ComputeBudget).validate_python(budget)
    bad = CliRunner().invoke(models, ["manifest", str(folder), "--budget", '{"max_units": -1}'])
    assert bad.exit_code != 0 and "--budget" in bad.output
    wrong = {**budget, "cost_model": "diffusion/1"}
    refused = CliRunner().invoke(models, ["manifest", str(folder), "--budget", json.dumps(wrong)])
    assert refused.exit_code != 0 and "'causal-lm/1' cost model" in refused.output
