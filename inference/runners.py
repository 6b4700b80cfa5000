"""Runners: one validated input in, one artifact with its digest and runtime fingerprint out.

Every function here blocks (inference takes seconds); an async caller runs it in a worker thread
or process. ``run_request`` is what a verifier node calls with the raw bytes from the chain: an
input that does not validate yields the reserved INVALID_INPUT_DIGEST instead of an exception.
So does an input over the model's compute budget (``inference.compute_budget``), checked before
any generation: with ``commit_window_s`` the budget is the deployment's, else the model's cap.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from inference.compute_budget import (
    CausalLMBudget,
    DiffusionBudget,
    check_units,
    image_units,
    text_units,
)
from inference.determinism import deterministic, runtime_fingerprint
from inference.digests import INVALID_INPUT_DIGEST, digest_image, digest_tokens, near_constant
from inference.errors import InvalidInputError
from inference.input_tolerance import required_tolerance
from inference.models import LoadedModel
from inference.seeds import resolve_seed
from inference.specs import ImageInput, TextInput, parse_input

PNG_MEDIA_TYPE = "image/png"
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
NEAR_CONSTANT_FLAG = "near-constant"


@dataclass(frozen=True)
class GenerationResult:
    """A generation's artifact and digest, with what is needed to reproduce or audit it."""

    artifact: bytes
    """PNG bytes for an image, UTF-8 text for a text model, the reason for an invalid input."""
    media_type: str
    digest: bytes
    token_ids: list[int] | None
    fingerprint: dict[str, object]
    seconds: float
    seed: int | None = None
    """The seed actually used (derived from the task when the input said 0); None for text."""
    flags: tuple[str, ...] = ()
    """Warnings about the digest, e.g. "near-constant" (a flat image's pHash is noise)."""
    invalid_reason: str | None = None
    """Set when the input was invalid and the digest is INVALID_INPUT_DIGEST."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        """The generated text of a text model."""
        return self.artifact.decode("utf-8") if self.token_ids is not None else None


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of an image (lossless: the digest of the decoded PNG is the digest of image)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _check_kind(model: LoadedModel, spec: ImageInput | TextInput) -> None:
    wanted = "image" if isinstance(spec, ImageInput) else "text"
    if model.kind != wanted:
        raise InvalidInputError(f"{model.name} is a {model.kind} model; got a {wanted} input")


def cost_units(model: LoadedModel, spec: ImageInput | TextInput) -> int | None:
    """An input's compute cost under the model's cost model (None: the manifest has no budget).
    Cheap: it counts steps with a fresh scheduler and tokens with the tokenizer, no weights."""
    _check_kind(model, spec)
    budget = model.manifest.compute_budget
    if budget is None:
        return None
    if isinstance(spec, ImageInput):
        assert isinstance(budget, DiffusionBudget)  # the manifest pairs the kinds
        return image_units(budget, spec, model.image_backend.denoiser_evaluations(spec))
    assert isinstance(budget, CausalLMBudget)
    return text_units(budget, spec, len(model.text_backend.prompt_ids(spec)))


def check_budget(
    model: LoadedModel, spec: ImageInput | TextInput, commit_window_s: int | None = None
) -> None:
    """InvalidInputError when the input costs more than the task's budget (see module doc)."""
    units = cost_units(model, spec)
    if units is not None and model.manifest.compute_budget is not None:
        check_units(model.manifest.compute_budget, units, commit_window_s)


def check_input(
    model: LoadedModel, spec: ImageInput | TextInput, commit_window_s: int | None = None
) -> None:
    """InvalidInputError for an input the model refuses: of the other kind, one its backend
    cannot run, or over its compute budget. Every path that computes an input applies it (the
    replicated runners, the audited executor and its auditors), so they refuse the same ones."""
    _check_kind(model, spec)
    if isinstance(spec, ImageInput):
        model.image_backend.validate(spec)
    else:
        model.text_backend.validate(spec)
    check_budget(model, spec, commit_window_s)


def generate_images(
    model: LoadedModel,
    specs: Sequence[ImageInput],
    *,
    task_ids: Sequence[int] | None = None,
    entropies: Sequence[bytes] | None = None,
    threads: int | None = None,
    commit_window_s: int | None = None,
) -> list[GenerationResult]:
    """Generate a batch of images in one pipeline call (inputs must share size/steps/scheduler)."""
    if not specs:
        return []
    ids = list(task_ids) if task_ids is not None else [0] * len(specs)
    noise = list(entropies) if entropies is not None else [b""] * len(specs)
    if len(ids) != len(specs) or len(noise) != len(specs):
        raise ValueError("task_ids and entropies must match the number of inputs")
    backend = model.image_backend
    for spec in specs:
        check_input(model, spec, commit_window_s)
        required_tolerance(model.manifest, spec)  # an input no tolerance can verify is invalid
    seeds = [resolve_seed(s.seed, i, e) for s, i, e in zip(specs, ids, noise, strict=True)]
    scheme = model.manifest.digest_scheme
    device = str(getattr(backend, "device", "cpu"))
    with deterministic(threads, device) as thread_count:
        started = time.perf_counter()
        images = backend.generate_images(specs, seeds)
        seconds = (time.perf_counter() - started) / len(specs)
    fingerprint = runtime_fingerprint(thread_count, len(specs), device)
    results = []
    for image, seed in zip(images, seeds, strict=True):
        flags = (NEAR_CONSTANT_FLAG,) if near_constant(image) else ()
        results.append(
            GenerationResult(
                artifact=encode_png(image),
                media_type=PNG_MEDIA_TYPE,
                digest=digest_image(image, scheme),
                token_ids=None,
                fingerprint=fingerprint,
                seconds=seconds,
                seed=seed,
                flags=flags,
            )
        )
    return results


def generate_texts(
    model: LoadedModel,
    specs: Sequence[TextInput],
    *,
    threads: int | None = None,
    commit_window_s: int | None = None,
) -> list[GenerationResult]:
    """Generate a batch of texts (inputs must share max_new_tokens and num_beams)."""
    if not specs:
        return []
    backend = model.text_backend
    for spec in specs:
        check_input(model, spec, commit_window_s)
    device = str(getattr(backend, "device", "cpu"))
    with deterministic(threads, device) as thread_count:
        started = time.perf_counter()
        outputs = backend.generate_tokens(specs)
        seconds = (time.perf_counter() - started) / len(specs)
    fingerprint = runtime_fingerprint(thread_count, len(specs), device)
    return [
        GenerationResult(
            artifact=text.encode("utf-8"),
            media_type=TEXT_MEDIA_TYPE,
            digest=digest_tokens(token_ids),
            token_ids=token_ids,
            fingerprint=fingerprint,
            seconds=seconds,
        )
        for token_ids, text in outputs
    ]


def generate(
    model: LoadedModel,
    spec: ImageInput | TextInput,
    *,
    task_id: int = 0,
    entropy: bytes = b"",
    threads: int | None = None,
    commit_window_s: int | None = None,
) -> GenerationResult:
    """Run one validated input (raises InvalidInputError if the model cannot run it or it is
    over the compute budget)."""
    _check_kind(model, spec)
    if isinstance(spec, ImageInput):
        return generate_images(
            model,
            [spec],
            task_ids=[task_id],
            entropies=[entropy],
            threads=threads,
            commit_window_s=commit_window_s,
        )[0]
    return generate_texts(model, [spec], threads=threads, commit_window_s=commit_window_s)[0]


def invalid_input_result(reason: str) -> GenerationResult:
    """The result every honest verifier commits for an input that cannot be run."""
    return GenerationResult(
        artifact=reason.encode("utf-8"),
        media_type=TEXT_MEDIA_TYPE,
        digest=INVALID_INPUT_DIGEST,
        token_ids=None,
        fingerprint={},
        seconds=0.0,
        invalid_reason=reason,
    )


def run_request(
    model: LoadedModel,
    raw_input: bytes,
    *,
    task_id: int = 0,
    entropy: bytes = b"",
    threads: int | None = None,
    commit_window_s: int | None = None,
) -> GenerationResult:
    """Parse request bytes and generate; an invalid input (over the budget included) gives the
    INVALID_INPUT_DIGEST result."""
    try:
        spec = parse_input(model.kind, raw_input, model.manifest.defaults)
        return generate(
            model,
            spec,
            task_id=task_id,
            entropy=entropy,
            threads=threads,
            commit_window_s=commit_window_s,
        )
    except InvalidInputError as exc:
        return invalid_input_result(exc.reason)
