"""The installed genoracle's version: the protocol version its node and SDK speak (the deployed
oracle declares its own in VERSION; see oracle.chain.views.same_protocol)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genoracle")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
