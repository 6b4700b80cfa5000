"""The gateway's API keys: who a request comes from, and the limits that key has.

The configuration holds no key, only its sha256 (or the name of an environment variable that
holds it). A presented key is hashed and compared with every configured hash in constant time,
without stopping at the first match, so neither the comparison nor the loop tells an attacker how
close a guess was or which key it resembled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from oracle.config import ApiKeySettings
from oracle.errors import ConfigError

WEI_PER_ETH = 10**18


@dataclass(frozen=True)
class ApiKey:
    """A configured client: its name, the sha256 of its key, and its limits."""

    name: str
    sha256: bytes
    tasks_per_minute: int
    spend_per_day_wei: int
    models: frozenset[str] | None
    """Model names it may use (None: every model of the gateway)."""


def key_sha256(key: str) -> str:
    """What `[gateway.keys.NAME] key_sha256` holds for a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe)."""
    return "go_" + secrets.token_urlsafe(32)


class KeyRing:
    """The configured keys, resolved once at start."""

    def __init__(
        self, keys: Mapping[str, ApiKeySettings], environ: Mapping[str, str] | None = None
    ) -> None:
        environ = os.environ if environ is None else environ
        self._keys: list[ApiKey] = []
        for name, settings in keys.items():
            if settings.key_env is not None:
                value = environ.get(settings.key_env, "")
                if not value:
                    raise ConfigError(
                        f"gateway.keys.{name}.key_env: environment variable "
                        f"{settings.key_env} is not set (it must hold the key)"
                    )
                digest = key_sha256(value)
            else:
                assert settings.key_sha256 is not None
                digest = settings.key_sha256
            self._keys.append(
                ApiKey(
                    name=name,
                    sha256=bytes.fromhex(digest),
                    tasks_per_minute=settings.tasks_per_minute,
                    spend_per_day_wei=int(Decimal(str(settings.spend_per_day_eth)) * WEI_PER_ETH),
                    models=frozenset(settings.models) if settings.models is not None else None,
                )
            )

    def names(self) -> list[str]:
        return [key.name for key in self._keys]

    def match(self, presented: str) -> ApiKey | None:
        """The key whose hash the presented key has, compared in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found
