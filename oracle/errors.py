"""Every error the oracle package raises derives from `OracleError` (and from the builtin that
fits, web3.py's style): callers catch one type, or the builtin they already expect."""

from __future__ import annotations


class OracleError(Exception):
    """Base class of every genoracle off-chain error."""


class ConfigError(OracleError, ValueError):
    """The configuration file or an environment variable is invalid; the message names the key."""


class KeyLoadError(OracleError, ValueError):
    """The operator key could not be loaded (missing keystore, wrong password, malformed key)."""


class StoreError(OracleError, RuntimeError):
    """The node's local database is unusable or belongs to another chain or contract."""


class ChainError(OracleError):
    """A chain interaction failed for a reason that is not a contract revert."""


class ChainUnavailableError(ChainError):
    """The RPC endpoint could not be reached after the configured retries (transient)."""


class TransactionFailedError(ChainError, RuntimeError):
    """A mined transaction has status 0 without a decodable reason."""


class TaskTimeoutError(OracleError, TimeoutError):
    """A task did not reach a final state before the caller's deadline."""
