"""Built-in models, manifests and the runners: golden digests, tampering, invalid inputs."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from PIL import Image

from inference import tolerances
from inference.digests import (
    INVALID_INPUT_DIGEST,
    Tolerance,
    digest_image,
    digest_tokens,
    digests_agree,
    lane_distances,
)
from inference.errors import ManifestError, ModelIntegrityError, ModelNotFoundError
from inference.manifest import MANIFEST_FILE, load_manifest
from inference.models import (
    BuiltinModel,
    LoadedModel,
    ModelCache,
    build_builtin,
    builtin_model_names,
    default_cache,
    load_model,
    register_builtin,
)
from inference.runners import generate, generate_images, run_request
from inference.seeds import derive_seed
from inference.specs import DEFAULTABLE, ChatMessage, ImageInput, TextInput
from inference.tiny_models import build_tiny_llama, build_tiny_sd
from inference.tolerances import calibrated

FOX = ImageInput(prompt="a red fox", seed=1, steps=4, width=64, height=64)
CAR = ImageInput(prompt="a blue car", seed=2, steps=4, width=64, height=64, scheduler="euler")
GOLDEN_IMAGES = {
    FOX: "8d88be33c19637636b70d6fef68df0a62e49983d2856dc1861ae4a875a485ef4",
    CAR: "e32e1785c4786cd95950bae9bec791343ebbf95aafb6d83ffcb8275a3bc74229",
}
GREEDY = TextInput(prompt="Hello there", max_new_tokens=12)
BEAMS = TextInput(messages=[ChatMessage(role="user", content="Hi")], max_new_tokens=12, num_beams=4)
GOLDEN_TINY_LLAMA = [
    (GREEDY, [31, 242, 62, 246, 227, 4, 19, 59, 135, 213, 11, 115]),
    (BEAMS, [91, 42, 237, 178, 97, 235, 56, 88, 34, 31, 34, 31]),
]
CAPITAL = TextInput(
    messages=[ChatMessage(role="user", content="What is the capital of France?")],
    max_new_tokens=12,
)
GOLDEN_SMOLLM2 = [504, 3575, 282, 4649, 314, 7042, 30, 2]


@pytest.fixture(scope="module")
def tiny_sd() -> LoadedModel:
    return default_cache().get("tiny-sd")


@pytest.fixture(scope="module")
def tiny_llama() -> LoadedModel:
    return default_cache().get("tiny-llama")


def test_builtin_models_are_listed() -> None:
    assert {"tiny-sd", "tiny-llama", "smollm2-135m"} <= set(builtin_model_names())


@pytest.mark.parametrize("spec", list(GOLDEN_IMAGES), ids=["ddim", "euler"])
def test_tiny_sd_golden_digests(tiny_sd: LoadedModel, spec: ImageInput) -> None:
    """The digests pinned on the machine that wrote them, within the model's honest floor: on
    another CPU (an AMD EPYC here) one pHash bit of the Euler image differs, an honest re-run,
    and the protocol only asks honest re-runs to agree within the tolerance."""
    result = generate(tiny_sd, spec)
    golden = bytes.fromhex(GOLDEN_IMAGES[spec])
    assert digests_agree(result.digest, golden, tiny_sd.manifest.tolerance), (
        result.digest.hex(),
        lane_distances(result.digest, golden),
    )
    assert result.media_type == "image/png"
    image = Image.open(io.BytesIO(result.artifact))
    assert image.size == (64, 64)
    assert digest_image(image, tiny_sd.manifest.digest_scheme) == result.digest
    assert result.seed == spec.seed
    assert result.fingerprint["batch_size"] == 1
    assert {"threads", "cpu_capability", "device", "libraries"} <= set(result.fingerprint)


@pytest.mark.parametrize(("spec", "tokens"), GOLDEN_TINY_LLAMA, ids=["greedy", "4-beam"])
def test_tiny_llama_golden_tokens(
    tiny_llama: LoadedModel, spec: TextInput, tokens: list[int]
) -> None:
    result = generate(tiny_llama, spec)
    assert result.token_ids == tokens
    assert result.digest == digest_tokens(tokens)
    assert len(set(result.token_ids)) > 3  # untied embeddings: no single repeated token


def test_smollm2_answers_and_is_pinned() -> None:
    model = default_cache().get("smollm2-135m")
    result = generate(model, CAPITAL)
    assert result.token_ids == GOLDEN_SMOLLM2
    assert result.text is not None and "Paris" in result.text


def test_seed_zero_is_derived_from_the_task(tiny_sd: LoadedModel) -> None:
    spec = FOX.model_copy(update={"seed": 0})
    entropy = b"\x42" * 32
    first, second = generate_images(
        tiny_sd, [spec, spec], task_ids=[11, 12], entropies=[entropy, entropy]
    )
    assert first.seed == derive_seed(11, entropy)
    assert second.seed == derive_seed(12, entropy)
    assert first.digest != second.digest


def test_invalid_requests_give_the_reserved_digest(
    tiny_sd: LoadedModel, tiny_llama: LoadedModel
) -> None:
    bad_size = run_request(tiny_sd, b'{"prompt": "x", "width": 60}')
    assert bad_size.digest == INVALID_INPUT_DIGEST
    assert bad_size.invalid_reason is not None and "multiple of 8" in bad_size.invalid_reason
    wrong_kind = run_request(tiny_llama, b'{"prompt": "x", "width": 64}')
    assert wrong_kind.digest == INVALID_INPUT_DIGEST
    # The byte tokenizer gives one token per character: 1990 + 100 exceed the 2048 context.
    too_long = run_request(tiny_llama, json.dumps({"prompt": "x" * 1990, "max_new_tokens": 100}))
    assert too_long.digest == INVALID_INPUT_DIGEST
    assert too_long.invalid_reason is not None and "context of 2048" in too_long.invalid_reason
    raw = b'{"prompt": "a red fox", "seed": 1, "steps": 4, "width": 64, "height": 64}'
    good = run_request(tiny_sd, raw)
    assert good.digest.hex() == GOLDEN_IMAGES[FOX]


def test_model_cache_loads_once() -> None:
    cache = ModelCache()
    first = cache.get("tiny-llama")
    assert cache.get("tiny-llama") is first
    assert cache.by_model_id(first.model_id) is first


def test_unknown_models_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a built-in model"):
        load_model("no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        load_model("someone/some-model")
    with pytest.raises(ModelNotFoundError, match=r"no manifest\.json"):
        load_model(str(tmp_path))


@pytest.fixture
def llama_copy(tmp_path: Path) -> Iterator[Path]:
    """A private copy of tiny-llama that a test may damage."""
    folder = tmp_path / "tiny-llama"
    shutil.copytree(build_builtin("tiny-llama"), folder)
    yield folder


def test_a_changed_weight_byte_is_refused(llama_copy: Path) -> None:
    assert load_model(str(llama_copy)).model_id == load_manifest(llama_copy).model_id
    weights = llama_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.safetensors has sha256"):
        load_model(str(llama_copy))


def test_missing_and_extra_files_are_refused(llama_copy: Path) -> None:
    (llama_copy / "notes.txt").write_text("hello")
    with pytest.raises(ModelIntegrityError, match=r"not in the manifest: notes\.txt"):
        load_model(str(llama_copy))
    (llama_copy / "notes.txt").unlink()
    (llama_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"tokenizer\.json is missing"):
        load_model(str(llama_copy))


def test_other_library_versions_are_refused(llama_copy: Path) -> None:
    manifest_path = llama_copy / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["library_versions"]["torch"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"torch 0\.0\.1 pinned"):
        load_model(str(llama_copy))
    assert load_model(str(llama_copy), strict_versions=False).kind == "text"


def test_manifest_identity_is_its_canonical_json(llama_copy: Path) -> None:
    manifest = load_manifest(llama_copy)
    assert manifest.model_id == sha256(manifest.canonical_json()).digest()
    canonical = manifest.canonical_json()
    assert canonical.startswith(
        b'{"compute_budget":{"cost_model":"causal-lm/1","generated_token_weight":64,'
    )
    assert b"\n" not in canonical and b'", "' not in canonical
    reordered = dict(reversed(list(json.loads((llama_copy / MANIFEST_FILE).read_text()).items())))
    (llama_copy / MANIFEST_FILE).write_text(json.dumps(reordered, indent=4))
    assert load_manifest(llama_copy).model_id == manifest.model_id
    broken = json.loads((llama_copy / MANIFEST_FILE).read_text())
    broken["files"]["model.safetensors"] = "xyz"
    (llama_copy / MANIFEST_FILE).write_text(json.dumps(broken))
    with pytest.raises(ManifestError, match="not a lowercase hex sha256"):
        load_manifest(llama_copy)


def test_a_build_that_misses_its_pin_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GENORACLE_HOME", str(tmp_path))
    register_builtin(
        BuiltinModel(
            name="tiny-llama-wrong-pin",
            kind="text",
            description="test only",
            build=build_tiny_llama,
            pinned_files={"model.safetensors": "0" * 64},
        )
    )
    with pytest.raises(ModelIntegrityError, match="not reproducible"):
        build_builtin("tiny-llama-wrong-pin")


def test_calibrated_tolerances_override_the_scheme_defaults(tmp_path: Path) -> None:
    table = tmp_path / "tolerances.json"
    assert calibrated("tiny-sd", "phash64", table) == (
        "phash64",
        Tolerance.of(10),
        Tolerance.of(32),
    )
    table.write_text(
        json.dumps({"tiny-sd": {"scheme": "phash64+fine64", "default_tolerance": [6, 4, 0, 0]}})
    )
    scheme, default, maximum = calibrated("tiny-sd", "phash64", table)
    assert (scheme, default) == ("phash64+fine64", Tolerance.of(6, 4))
    assert maximum == Tolerance.of(32, 32)
    table.write_text(json.dumps({"tiny-sd": {"default_tolerance": [300]}}))
    with pytest.raises(ManifestError, match="bad entry"):
        calibrated("tiny-sd", "phash64", table)


def test_cached_builtins_follow_a_new_calibration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GENORACLE_HOME", str(tmp_path / "home"))
    # An empty calibration table at first: the build takes the starting scheme and tolerance.
    table = tmp_path / "tolerances.json"
    monkeypatch.setattr(tolerances, "TOLERANCES_FILE", table)
    register_builtin(
        BuiltinModel(name="tiny-sd-calibration", kind="image", description="", build=build_tiny_sd)
    )
    before = load_manifest(build_builtin("tiny-sd-calibration"))
    assert (before.digest_scheme, before.default_tolerance) == ("phash64", (10, 0, 0, 0))
    table.write_text(
        json.dumps(
            {
                "tiny-sd-calibration": {
                    "scheme": "phash64+fine64",
                    "default_tolerance": [6, 4, 0, 0],
                    "max_tolerance": [20, 20, 0, 0],
                }
            }
        )
    )
    after = load_model("tiny-sd-calibration")
    assert after.manifest.digest_scheme == "phash64+fine64"
    assert after.tolerance == Tolerance.of(6, 4)
    assert after.manifest.files == before.files
    assert after.model_id != before.model_id
    result = generate(after, FOX)
    assert result.digest.hex().startswith(GOLDEN_IMAGES[FOX][:16])
    assert result.digest[8:16] != bytes(8)


def test_builtin_image_models_carry_the_noise_floor_and_every_default(
    tiny_sd: LoadedModel,
) -> None:
    """The noise study's scheme and floor (inference/tolerances.json) and a value for every
    omitted input field are in the manifest, so the model id pins them."""
    scheme, default, _ = calibrated("tiny-sd", "phash64")
    assert tiny_sd.manifest.digest_scheme == scheme == "phash64+sample192"
    assert tiny_sd.tolerance == default
    assert set(tiny_sd.manifest.defaults) == set(DEFAULTABLE["image"])
    assert tiny_sd.manifest.defaults["steps"] == 10
    changed = {**tiny_sd.manifest.defaults, "steps": 11}
    assert tiny_sd.manifest.model_copy(update={"defaults": changed}).model_id != tiny_sd.model_id
