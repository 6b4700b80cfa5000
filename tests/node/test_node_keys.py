"""Keys: encrypted keystore or env variable; errors name the source and never leak the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.config import AccountSettings
from oracle.errors import KeyLoadError
from oracle.keys import load_account, write_keystore

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_private_key_from_environment() -> None:
    account = load_account(AccountSettings(private_key_env="OP_KEY"), environ={"OP_KEY": KEY})
    assert account.address == ADDRESS


def test_keystore_with_password_from_env_or_file(tmp_path: Path) -> None:
    keystore = tmp_path / "op.json"
    assert write_keystore(KEY, "s3cret", keystore, scrypt_n=2**10) == ADDRESS
    assert keystore.stat().st_mode & 0o777 == 0o600
    settings = AccountSettings(keystore=keystore, password_env="OP_PASS")
    assert load_account(settings, environ={"OP_PASS": "s3cret"}).address == ADDRESS
    password_file = tmp_path / "pass"
    password_file.write_text("s3cret\n")
    from_file = AccountSettings(keystore=keystore, password_file=password_file)
    assert load_account(from_file, environ={}).address == ADDRESS


def test_errors_name_the_source_and_hide_secrets(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="environment variable OP_KEY"):
        load_account(AccountSettings(private_key_env="OP_KEY"), environ={})
    with pytest.raises(KeyLoadError, match="OP_KEY does not hold a valid") as raised:
        load_account(AccountSettings(private_key_env="OP_KEY"), environ={"OP_KEY": "0xnothex"})
    assert "nothex" not in str(raised.value)
    keystore = tmp_path / "op.json"
    write_keystore(KEY, "right", keystore, scrypt_n=2**10)
    settings = AccountSettings(keystore=keystore, password_env="OP_PASS")
    with pytest.raises(KeyLoadError, match="wrong password") as raised:
        load_account(settings, environ={"OP_PASS": "wrong-guess"})
    assert "wrong-guess" not in str(raised.value)
    with pytest.raises(KeyLoadError, match="set the environment variable OP_PASS"):
        load_account(settings, environ={})
    with pytest.raises(KeyLoadError, match="cannot read keystore"):
        load_account(AccountSettings(keystore=tmp_path / "none.json"), environ={})
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(KeyLoadError, match="not a JSON keystore"):
        load_account(AccountSettings(keystore=tmp_path / "junk.json"), environ={})
