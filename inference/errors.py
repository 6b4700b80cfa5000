"""The exceptions of the inference package: one base class, so callers can catch every failure.

Each also derives from the builtin it refines (web3.py's style), so ``except LookupError`` still
catches an unknown model; `InvalidInputError` alone does not (see its docstring).
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class of every error raised by the inference package."""


class InvalidInputError(InferenceError):
    """A generation input that no honest verifier may run; the node answers INVALID_INPUT_DIGEST.

    Not a ValueError: the input parsers catch the JSON decoder's ValueErrors to turn them into
    this error, and one raised by their own hooks must keep its reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownSchemeError(InferenceError, LookupError):
    """A digest scheme name that this package does not implement."""


class ManifestError(InferenceError, ValueError):
    """A model manifest that is malformed or does not match the files it describes."""


class ModelIntegrityError(ManifestError):
    """A weights or config file whose sha256 differs from the one pinned in the manifest."""


class ModelNotFoundError(InferenceError, LookupError):
    """A model name or path that no source (built-in, local folder, hub) can provide."""


class ThreadCountError(InferenceError, ValueError):
    """A torch thread count (GENORACLE_THREADS, or one given) that is not an integer >= 1."""


class DeviceError(InferenceError, ValueError):
    """A device (GENORACLE_DEVICE, or one given) that is not "cpu" or an available "cuda[:N]"."""
