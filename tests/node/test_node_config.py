"""Config: valid files load, env variables override, and every invalid key names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.config import env_var_name, load_client_config, load_node_config
from oracle.errors import ConfigError

VALID = """
[chain]
rpc_url = "http://127.0.0.1:8545"
oracle_address = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
confirmations = 2
poll_interval_s = 0.5

[account]
private_key_env = "MY_KEY"

[node]
data_dir = "state"
models = ["tiny-sd", "tiny-llama"]
worker = "thread"

[api]
port = 9000
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_relative_paths_resolved(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, VALID), environ={})
    assert config.chain.oracle_address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert config.chain.confirmations == 2
    assert config.node.models == ["tiny-sd", "tiny-llama"]
    assert config.node.data_dir == tmp_path / "state"
    assert config.api.port == 9000


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = {
        env_var_name("chain", "rpc_url"): "https://rpc.example.org",
        env_var_name("node", "models"): "digits, tiny-sd",
        env_var_name("api", "port"): "9100",
    }
    config = load_node_config(write(tmp_path, VALID), environ=environ)
    assert env_var_name("chain", "rpc_url") == "GENORACLE_CHAIN_RPC_URL"
    assert config.chain.rpc_url == "https://rpc.example.org"
    assert config.node.models == ["digits", "tiny-sd"]
    assert config.api.port == 9100


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("chain", 'rpc_url = "ftp://host"', "chain.rpc_url = 'ftp://host': must be an http"),
        ("chain", 'oracle_address = "0x1234"', "chain.oracle_address = '0x1234': must be a 20"),
        ("chain", "confirmations = -1", "chain.confirmations = -1: Input should be greater"),
        ("chain", "poll_interval_s = 0", "chain.poll_interval_s = 0: Input should be greater"),
        ("chain", 'reorg_depth = "deep"', "chain.reorg_depth = 'deep': Input should be a valid"),
        ("node", "models = []", "node.models = []: must list at least one model"),
        ("node", 'worker = "gpu"', "node.worker = 'gpu': Input should be 'process' or 'thread'"),
        # A node cannot be configured to cheat: conducts are not configuration.
        ("node", 'behaviour = "lazy"', "node.behaviour = 'lazy': unknown key"),
        ("node", "modelz = []", "node.modelz = []: unknown key"),
        ("api", "port = 70000", "api.port = 70000: Input should be less than or equal to 65535"),
    ],
)
def test_each_invalid_key_is_named_with_its_value(
    tmp_path: Path, section: str, line: str, expected: str
) -> None:
    text = VALID.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    # The key may already exist in VALID; drop the original line so TOML stays valid.
    key = line.split("=")[0].strip()
    lines, seen = [], False
    for current in text.splitlines():
        if current.split("=")[0].strip() == key:
            if seen:
                continue
            seen = True
        lines.append(current)
    path = write(tmp_path, "\n".join(lines))
    with pytest.raises(ConfigError) as raised:
        load_node_config(path, environ={})
    message = str(raised.value)
    assert expected in message
    assert str(path) in message


def test_env_error_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.port = 'many'.*GENORACLE_API_PORT"):
        load_node_config(write(tmp_path, VALID), environ={"GENORACLE_API_PORT": "many"})


def test_unknown_section_and_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nodes = \{.x.: 1\}: unknown key"):
        load_node_config(write(tmp_path, VALID + "\n[nodes]\nx = 1\n"), environ={})
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_node_config(write(tmp_path, "[chain\nrpc_url = 1"), environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_node_config(tmp_path / "missing.toml", environ={})


def test_client_config_accepts_a_node_file_and_cli_overrides(tmp_path: Path) -> None:
    config = load_client_config(
        write(tmp_path, VALID),
        environ={},
        overrides={"chain": {"rpc_url": "http://10.0.0.1:8545", "oracle_address": None}},
    )
    assert config.chain.rpc_url == "http://10.0.0.1:8545"
    assert config.account.private_key_env == "MY_KEY"
    with pytest.raises(ConfigError, match=r"chain\.rpc_url = 'nope'.*command-line option"):
        load_client_config(None, environ={}, overrides={"chain": {"rpc_url": "nope"}})


def test_the_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "oracle" / "node.example.toml"
    config = load_node_config(example, environ={})
    assert config.api.port == 8700
    assert config.node.data_dir == example.parent / ".genoracle" / "node"
