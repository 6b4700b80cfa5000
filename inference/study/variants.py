"""The execution conditions a study compares: the reference, honest variants and impostors.

An honest variant is what another honest verifier may legitimately run (another thread count,
batch composition, an older CPU instruction set, the deterministic flag off); its output must
agree with the reference. An impostor computes something cheaper or different (fewer steps,
another scheduler, bf16) and should be caught. The "other seed of the same class" impostor needs no
generation: it is the reference sample of another seed, compared at analysis time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

from inference.errors import InferenceError

Role = Literal["reference", "honest", "impostor"]

OLDER_CPU_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
"""Set before torch is imported, these make PyTorch run its AVX2 kernels on an AVX-512 CPU."""


@dataclass(frozen=True)
class Variant:
    """One way of running the model; fields left at None use the model's reference setting."""

    name: str
    role: Role
    description: str
    threads: int = 1
    batch_size: int = 32
    older_cpu: bool = False
    deterministic: bool = True
    steps: int | None = None
    scheduler: str | None = None
    dtype: str = "float32"

    def environment(self) -> dict[str, str]:
        """Environment variables the worker process must start with."""
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.threads > 1:
            # Idle OpenMP threads sleep instead of spinning: on a shared, loaded machine a spinning
            # thread steals the core its partner needs to reach the barrier. Outputs are unchanged.
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        if self.older_cpu:
            env.update(OLDER_CPU_ENV)
        return env

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


REFERENCE = Variant("reference", "reference", "1 thread, batches of 32, deterministic")

HONEST = (
    Variant("threads-2", "honest", "2 threads instead of 1", threads=2),
    Variant("batch-1", "honest", "one sample per batch instead of 32", batch_size=1),
    Variant("avx2", "honest", "an older CPU: AVX2 kernels instead of AVX-512", older_cpu=True),
    Variant(
        "nondeterministic", "honest", "torch deterministic algorithms off", deterministic=False
    ),
)

IMPOSTORS = (
    Variant("steps-10", "impostor", "10 steps instead of the reference's 50", steps=10),
    Variant("steps-5", "impostor", "5 steps instead of the reference's 10 (tiny-sd)", steps=5),
    Variant("steps-25", "impostor", "25 steps instead of the reference's 50", steps=25),
    Variant("euler", "impostor", "Euler scheduler, same step count", scheduler="euler"),
    Variant("dpm-20", "impostor", "DPM-Solver++ 20 steps", scheduler="dpm++", steps=20),
    Variant("bf16", "impostor", "bfloat16 autocast instead of float32", dtype="bfloat16"),
)

OTHER_SEED = "other-seed"
"""The impostor that returns another seed's image of the same class (no generation needed)."""

ALL_VARIANTS: dict[str, Variant] = {v.name: v for v in (REFERENCE, *HONEST, *IMPOSTORS)}


def resolve_variants(names: str) -> list[Variant]:
    """Parse a comma-separated list ("all", "honest", "impostors" or names); reference first."""
    chosen: list[Variant] = [REFERENCE]
    for token in (t.strip() for t in names.split(",") if t.strip()):
        if token == "all":
            group: tuple[Variant, ...] = (*HONEST, *IMPOSTORS)
        elif token == "honest":
            group = HONEST
        elif token == "impostors":
            group = IMPOSTORS
        elif token in ALL_VARIANTS:
            group = (ALL_VARIANTS[token],)
        else:
            known = ", ".join(["all", "honest", "impostors", *ALL_VARIANTS])
            raise ValueError(f"unknown variant {token!r}; known: {known}")
        chosen.extend(v for v in group if v not in chosen)
    return chosen


class StudyRunError(InferenceError, RuntimeError):
    """A worker process failed; the message carries its exit code and the end of its stderr."""


def start_variant_worker(
    module: str, request: dict[str, Any], variant: Variant
) -> subprocess.Popen[str]:
    """Start `python -m module` in the variant's environment and send it `request` as JSON.

    CPU-kernel settings must be in place before torch is imported, hence one process per variant;
    the caller reads the worker's progress lines from its stdout.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATEN_", "MKL_", "ONEDNN_"))}
    env.update(variant.environment())
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    return process
