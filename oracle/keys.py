"""Load the signing key from an encrypted keystore or an environment variable; never log it.

The key material lives only inside the returned eth-account `LocalAccount`; error messages name the
source (file path, variable name) and never echo a key or a password.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.config import AccountSettings
from oracle.errors import KeyLoadError


def _keystore_password(settings: AccountSettings, environ: Mapping[str, str]) -> str:
    if settings.password_file is not None:
        try:
            return settings.password_file.read_text().rstrip("\n")
        except OSError as exc:
            raise KeyLoadError(
                f"cannot read keystore password file {str(settings.password_file)!r}: "
                f"{exc.strerror}"
            ) from None
    if settings.password_env in environ:
        return environ[settings.password_env]
    raise KeyLoadError(
        f"keystore {str(settings.keystore)!r} is encrypted: set the environment variable "
        f"{settings.password_env} (or account.password_file) to its password"
    )


def load_account(
    settings: AccountSettings, environ: Mapping[str, str] | None = None
) -> LocalAccount:
    """The operator's or requester's account, from `account.keystore` or an env variable."""
    environ = os.environ if environ is None else environ
    if settings.keystore is not None:
        try:
            keyfile = json.loads(settings.keystore.read_text())
        except OSError as exc:
            raise KeyLoadError(
                f"cannot read keystore {str(settings.keystore)!r}: {exc.strerror}"
            ) from None
        except json.JSONDecodeError:
            raise KeyLoadError(
                f"keystore {str(settings.keystore)!r} is not a JSON keystore file"
            ) from None
        password = _keystore_password(settings, environ)
        try:
            private_key = Account.decrypt(keyfile, password)
        except ValueError:
            raise KeyLoadError(
                f"cannot decrypt keystore {str(settings.keystore)!r}: wrong password "
                "or corrupt file"
            ) from None
        account: LocalAccount = Account.from_key(private_key)
        return account
    raw = environ.get(settings.private_key_env)
    if not raw:
        raise KeyLoadError(
            f"no signing key: set account.keystore in the config, or put a hex private key in "
            f"the environment variable {settings.private_key_env}"
        )
    try:
        account = Account.from_key(raw.strip())
    except (ValueError, TypeError):
        raise KeyLoadError(
            f"the environment variable {settings.private_key_env} does not hold a valid "
            "32-byte hex private key"
        ) from None
    return account


def write_keystore(
    private_key: str, password: str, path: Path, *, scrypt_n: int | None = None
) -> str:
    """Encrypt a key into a keystore file (mode 0600); returns the account address.

    `scrypt_n` lowers the work factor (tests only); the default is eth-account's (2**18).
    """
    account = Account.from_key(private_key)
    keyfile = Account.encrypt(account.key, password, kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keyfile, handle)
    return str(account.address)
