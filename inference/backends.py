"""Backends: how a verified model folder is loaded and run, chosen by the manifest's pipeline class.

A backend turns validated inputs into images (``ImageBackend``) or token ids (``TextBackend``).
diffusers pipelines and transformers causal LMs are handled here; another package can add its
own pipeline class with ``register_backend`` (Digits-Gen does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from PIL import Image

from inference.determinism import default_device
from inference.errors import InvalidInputError, ManifestError
from inference.manifest import ModelManifest
from inference.specs import ImageInput, TextInput


@runtime_checkable
class ImageBackend(Protocol):
    """Runs text-to-image: one image per input, the i-th drawn from a generator seeded seeds[i]."""

    def validate(self, spec: ImageInput) -> None:
        """Raise InvalidInputError for an input this model cannot run (size, scheduler...)."""

    def denoiser_evaluations(self, spec: ImageInput) -> int:
        """How many times generating this input calls the denoiser (its compute cost), found
        without running it; InvalidInputError for a step count the scheduler cannot do."""
        ...

    def generate_images(
        self, specs: Sequence[ImageInput], seeds: Sequence[int]
    ) -> list[Image.Image]:
        """Generate one batch; every spec shares steps, guidance, size and scheduler."""
        ...


@runtime_checkable
class TextBackend(Protocol):
    """Runs text generation and returns the new token ids and their decoded text per input."""

    def validate(self, spec: TextInput) -> None:
        """Raise InvalidInputError for an input this model cannot run (context too long...)."""

    def prompt_ids(self, spec: TextInput) -> list[int]:
        """The token ids the model is conditioned on (its compute cost counts them)."""
        ...

    def generate_tokens(self, specs: Sequence[TextInput]) -> list[tuple[list[int], str]]:
        """Generate one batch; every spec shares max_new_tokens and num_beams."""
        ...


Backend = ImageBackend | TextBackend
BackendLoader = Callable[[Path, ModelManifest], Backend]

_LOADERS: dict[str, BackendLoader] = {}


def register_backend(pipeline_class: str, loader: BackendLoader) -> None:
    """Let manifests whose pipeline class is ``pipeline_class`` load through ``loader``."""
    _LOADERS[pipeline_class] = loader


def load_backend(folder: Path, manifest: ModelManifest) -> Backend:
    """Load a verified model folder with the backend its pipeline class names."""
    pipeline_class = str(manifest.pipeline["class"])
    loader = _LOADERS.get(pipeline_class)
    if loader is None and manifest.kind == "text" and pipeline_class.endswith("ForCausalLM"):
        loader = CausalLMBackend.load
    if loader is None and manifest.kind == "image" and pipeline_class.endswith("Pipeline"):
        loader = DiffusersBackend.load
    if loader is None:
        known = ", ".join(sorted(_LOADERS)) or "none registered"
        raise ManifestError(
            f"{manifest.name}: no backend runs pipeline class {pipeline_class!r} "
            f"(known: {known}, any *Pipeline for images, any *ForCausalLM for text)"
        )
    return loader(folder, manifest)


def _torch_dtype(manifest: ModelManifest) -> torch.dtype:
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    return dtypes[manifest.dtype]


# ---------------------------------------------------------------------------------------------
# diffusers
# ---------------------------------------------------------------------------------------------

SCHEDULER_CLASSES: dict[str, str] = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
}


class DiffusersBackend:
    """A diffusers text-to-image pipeline (Stable Diffusion and alike) on the CPU, or on the GPU
    GENORACLE_DEVICE names (the initial noise still comes from CPU generators)."""

    def __init__(self, pipeline: Any, manifest: ModelManifest, device: str = "cpu") -> None:
        self._pipeline = pipeline
        self._manifest = manifest
        self.device = device
        self._default_scheduler = pipeline.scheduler
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, manifest: ModelManifest) -> DiffusersBackend:
        """Load the pipeline from a folder that the manifest has already verified."""
        import diffusers

        pipeline_class = getattr(diffusers, str(manifest.pipeline["class"]), None)
        if pipeline_class is None:
            raise ManifestError(f"diffusers has no pipeline class {manifest.pipeline['class']!r}")
        pipeline = pipeline_class.from_pretrained(
            folder, dtype=_torch_dtype(manifest), local_files_only=True
        )
        device = default_device()
        pipeline.to(device)
        pipeline.set_progress_bar_config(disable=True)
        return cls(pipeline, manifest, device)

    def validate(self, spec: ImageInput) -> None:
        """Every size that is a multiple of 8 works; only the scheduler can be unknown here."""
        if spec.scheduler != "default" and spec.scheduler not in SCHEDULER_CLASSES:
            raise InvalidInputError(f"scheduler {spec.scheduler!r} is not available")

    def _scheduler(self, name: str) -> Any:
        if name == "default":
            return self._default_scheduler
        import diffusers

        scheduler_class = getattr(diffusers, SCHEDULER_CLASSES[name])
        return scheduler_class.from_config(self._default_scheduler.config)

    def denoiser_evaluations(self, spec: ImageInput) -> int:
        """The pipeline calls the UNet once per scheduler timestep (PNDM adds its Runge-Kutta
        warm-up steps), on a doubled batch when classifier-free guidance runs, which diffusers
        does only for guidance > 1. The timesteps come from a fresh scheduler of the same
        config, so nothing the pipeline uses is touched."""
        self.validate(spec)
        chosen = self._scheduler(spec.scheduler)
        scheduler = type(chosen).from_config(chosen.config)
        try:
            scheduler.set_timesteps(spec.steps)
        except (ValueError, IndexError, ZeroDivisionError) as exc:
            # e.g. PNDM below 4 steps: the pipeline would fail the same way, after loading
            # the prompt; every node finds it here alike.
            raise InvalidInputError(
                f"scheduler {spec.scheduler!r} cannot run {spec.steps} steps: {exc}"
            ) from exc
        guided = (
            spec.guidance > 1
            and getattr(self._pipeline.unet.config, "time_cond_proj_dim", None) is None
        )
        return len(scheduler.timesteps) * (2 if guided else 1)

    def generate_images(
        self, specs: Sequence[ImageInput], seeds: Sequence[int]
    ) -> list[Image.Image]:
        """One pipeline call for the batch, one CPU generator per sample."""
        first = specs[0]
        shared = (first.steps, first.guidance, first.width, first.height, first.scheduler)
        for spec in specs[1:]:
            if (spec.steps, spec.guidance, spec.width, spec.height, spec.scheduler) != shared:
                raise ValueError("a batch must share steps, guidance, size and scheduler")
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        with self._lock:
            self._pipeline.scheduler = self._scheduler(first.scheduler)
            try:
                output = self._pipeline(
                    prompt=[spec.prompt for spec in specs],
                    negative_prompt=[spec.negative_prompt for spec in specs],
                    num_inference_steps=first.steps,
                    guidance_scale=first.guidance,
                    width=first.width,
                    height=first.height,
                    generator=generators,
                    output_type="pil",
                )
            finally:
                self._pipeline.scheduler = self._default_scheduler
        return list(output.images)


# ---------------------------------------------------------------------------------------------
# transformers
# ---------------------------------------------------------------------------------------------


class CausalLMBackend:
    """A transformers causal LM: greedy or beam search, no sampling."""

    def __init__(
        self, model: Any, tokenizer: Any, manifest: ModelManifest, device: str = "cpu"
    ) -> None:
        self.device = device
        self._model = model
        self._tokenizer = tokenizer
        self._manifest = manifest
        self._eos = tokenizer.eos_token_id
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._eos
        self._context = int(getattr(model.config, "max_position_embeddings", 2048))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, manifest: ModelManifest) -> CausalLMBackend:
        """Load model and tokenizer from a folder that the manifest has already verified."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=_torch_dtype(manifest), local_files_only=True
        )
        model.train(False)
        device = default_device()
        movable: Any = model
        movable.to(device)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(model, tokenizer, manifest, device)

    def prompt_ids(self, spec: TextInput) -> list[int]:
        """The token ids the model is conditioned on (chat messages through the chat template)."""
        if spec.messages is not None:
            if not getattr(self._tokenizer, "chat_template", None):
                raise InvalidInputError(f"{self._manifest.name} has no chat template")
            messages = [{"role": m.role, "content": m.content} for m in spec.messages]
            text = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self._tokenizer(spec.prompt)["input_ids"])

    def validate(self, spec: TextInput) -> None:
        """The prompt plus the new tokens must fit the model's context."""
        length = len(self.prompt_ids(spec))
        if length == 0:
            raise InvalidInputError("the prompt encodes to no tokens")
        if length + spec.max_new_tokens > self._context:
            raise InvalidInputError(
                f"prompt of {length} tokens plus max_new_tokens {spec.max_new_tokens} exceeds "
                f"the model's context of {self._context} tokens"
            )

    def generate_tokens(self, specs: Sequence[TextInput]) -> list[tuple[list[int], str]]:
        """Left-padded batch; each row is cut after its first end-of-sequence token."""
        import transformers

        generation_config: Any = transformers.GenerationConfig

        first = specs[0]
        for spec in specs[1:]:
            if (spec.max_new_tokens, spec.num_beams) != (first.max_new_tokens, first.num_beams):
                raise ValueError("a batch must share max_new_tokens and num_beams")
        prompts = [self.prompt_ids(spec) for spec in specs]
        width = max(len(ids) for ids in prompts)
        input_ids = torch.tensor([[self._pad] * (width - len(ids)) + ids for ids in prompts])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts])
        # Built here, not read from the model folder, so no sampling default can creep in.
        config = generation_config(
            max_new_tokens=first.max_new_tokens,
            num_beams=first.num_beams,
            do_sample=False,
            length_penalty=1.0,
            early_stopping=False,
            eos_token_id=self._eos,
            pad_token_id=self._pad,
            bos_token_id=self._tokenizer.bos_token_id,
        )
        with self._lock:
            output = self._model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
            )
        results: list[tuple[list[int], str]] = []
        for row in output[:, width:].tolist():
            if self._eos in row:
                row = row[: row.index(self._eos) + 1]
            results.append(([int(token) for token in row], _decode(self._tokenizer, row)))
        return results


def _decode(tokenizer: Any, token_ids: Sequence[int]) -> str:
    """A text artifact from its generated token ids: the one rule for nodes and clients."""
    return str(tokenizer.decode(list(token_ids), skip_special_tokens=True))


def text_decoder(folder: Path) -> Callable[[Sequence[int]], str]:
    """The decoding a node applies to a text model's generated token ids (its tokenizer only, no
    weights), so a client holding the model can check that a served text is that decoding."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return lambda token_ids: _decode(tokenizer, token_ids)
