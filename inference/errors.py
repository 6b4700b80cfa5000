"""The exceptions of the inference package: one base class, so callers can catch every failure."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of every error raised by the inference package."""


class InvalidInputError(InferenceError):
    """A generation input that no honest verifier may run; the node answers INVALID_INPUT_DIGEST."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownSchemeError(InferenceError):
    """A digest scheme name that this package does not implement."""


class ManifestError(InferenceError):
    """A model manifest that is malformed or does not match the files it describes."""


class ModelIntegrityError(ManifestError):
    """A weights or config file whose sha256 differs from the one pinned in the manifest."""


class ModelNotFoundError(InferenceError):
    """A model name or path that no source (built-in, local folder, hub) can provide."""
