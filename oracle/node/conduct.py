"""How a node conducts itself at the points where an operator could cut corners.

A production node is always `HONEST`. The interface exists so the project's tests and demo can run
operators that cheat (oracle/dev/dishonest.py) through the very same node code, and show that
they are outvoted and slashed; no production module knows any such conduct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from oracle.node.worker import InferenceJob, InferenceOutcome, ModelDescription

if TYPE_CHECKING:
    from inference.audit.diffusion import StepModel, Trajectory
    from inference.audit.text import TextRun
    from inference.training.worker import RoundRun


class Conduct(Protocol):
    """The node asks its conduct before each of these steps."""

    @property
    def name(self) -> str:
        """Shown in the node's log and health report."""
        ...

    def inference(
        self, job: InferenceJob, model: ModelDescription
    ) -> InferenceJob | InferenceOutcome:
        """The job to run for a task, or an outcome to commit without running one."""
        ...

    def commits(self) -> bool:
        """Whether the node commits at all."""
        ...

    def reveals(self) -> bool:
        """Whether the node reveals (and serves its opening to the aggregating peer)."""
        ...

    def trajectory(self, model: StepModel) -> Trajectory:
        """Audited mode, as executor: the generation whose every latent the node keeps."""
        ...

    def text_run(
        self, model: Any, prompt_ids: Sequence[int], max_new_tokens: int, eos: int | None
    ) -> TextRun:
        """Audited mode, as executor of a text task: the generation whose tokens and hidden
        states the node keeps."""
        ...

    def serves_evidence(self) -> bool:
        """Audited mode, as executor: whether the node serves its auditors the challenged
        evidence."""
        ...

    def audited_result(self, digest: bytes) -> bytes:
        """Audited mode, as executor: the result digest it submits for its generation's."""
        ...

    def training_run(self, run: RoundRun) -> RoundRun:
        """Training tasks, as a member: how it runs a round it was asked to run as `run`."""
        ...


class HonestConduct:
    """Runs the requested job, commits, reveals: the only conduct a production node has."""

    name = "honest"

    def inference(
        self, job: InferenceJob, model: ModelDescription
    ) -> InferenceJob | InferenceOutcome:
        return job

    def commits(self) -> bool:
        return True

    def reveals(self) -> bool:
        return True

    def trajectory(self, model: StepModel) -> Trajectory:
        from inference.audit.diffusion import run_trajectory

        return run_trajectory(model)

    def text_run(
        self, model: Any, prompt_ids: Sequence[int], max_new_tokens: int, eos: int | None
    ) -> TextRun:
        from inference.audit.text import generate_with_hidden

        return generate_with_hidden(model, prompt_ids, max_new_tokens, eos=eos)

    def serves_evidence(self) -> bool:
        return True

    def audited_result(self, digest: bytes) -> bytes:
        return digest

    def training_run(self, run: RoundRun) -> RoundRun:
        return run


HONEST = HonestConduct()
