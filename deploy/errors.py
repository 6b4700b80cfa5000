"""Every error the deploy package raises derives from `DeployError` (each also from the builtin
that fits, web3.py's style): a caller catches one type, or the builtin it already expects."""

from __future__ import annotations


class DeployError(Exception):
    """Base class of the deploy package's errors (toolchain, Anvil, deployments)."""


class CompileError(DeployError, RuntimeError):
    """The compiler could not be run or reported errors."""


class ArtifactNotFoundError(DeployError, LookupError):
    """No committed artifact has the requested contract name."""


class AnvilError(DeployError, RuntimeError):
    """Anvil could not be found, did not start, or died; the message includes its log."""


class DeploymentError(DeployError, RuntimeError):
    """A deployment failed, or a record is missing, malformed or for another chain."""
