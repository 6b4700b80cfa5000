"""Node and client configuration: one TOML file plus `GENORACLE_<SECTION>_<KEY>` env variables.

Everything is validated on load; an invalid value raises `ConfigError` whose message names the key,
the offending value and where it came from, so an operator can fix it without reading code.
Secrets (private keys, keystore passwords, the API token) are never stored in the file: the file
names the environment variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from oracle.errors import ConfigError

ENV_PREFIX = "GENORACLE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainSettings(_Section):
    """How to reach the chain and the oracle contract."""

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int | None = Field(default=None, ge=1)
    """The chain this node or client is meant for: an RPC serving another chain is refused
    (guards against a wrong URL). None: whatever the RPC serves."""
    oracle_address: str | None = None
    """Checksummed oracle address; when absent, read from `deployments_dir/<chainId>.json`."""
    deployments_dir: Path | None = None
    """Folder of the deployment records; None: the documented location,
    $GENORACLE_DEPLOYMENTS_DIR or <genoracle home>/deployments (deploy.deployer)."""
    start_block: int | None = Field(default=None, ge=0)
    """First block to read logs from on a fresh node (default: the deployment record's block,
    or 0 when the address is configured without a record)."""
    confirmations: int = Field(default=0, ge=0, le=64)
    """Blocks a receipt must be buried under before a step counts as done (0 on Anvil)."""
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    reorg_depth: int = Field(default=6, ge=0, le=256)
    """How many blocks the listener re-reads behind its cursor to survive reorgs."""
    log_chunk_blocks: int = Field(default=2000, ge=1, le=100_000)
    rpc_timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_retries: int = Field(default=5, ge=0, le=100)
    retry_backoff_s: float = Field(default=0.2, gt=0, le=60)
    priority_fee_gwei: float | None = Field(default=None, ge=0)
    """Tip per gas; None asks the node (eth_maxPriorityFeePerGas)."""
    max_fee_gwei: float | None = Field(default=None, gt=0)
    """Upper bound on maxFeePerGas; a send that would need more fails instead of overpaying."""
    gas_limit_multiplier: float = Field(default=1.25, ge=1.0, le=5.0)

    @field_validator("rpc_url")
    @classmethod
    def _rpc_url_scheme(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8545"
            )
        return value

    @field_validator("oracle_address")
    @classmethod
    def _checksummed(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from eth_utils.address import is_address, to_checksum_address

        if not is_address(value):
            raise ValueError("must be a 20-byte hex address (0x followed by 40 hex digits)")
        return str(to_checksum_address(value))


class AccountSettings(_Section):
    """Where the signing key comes from: an encrypted keystore, or a raw key in an env variable."""

    keystore: Path | None = None
    password_env: str = "GENORACLE_KEYSTORE_PASSWORD"
    password_file: Path | None = None
    private_key_env: str = "GENORACLE_PRIVATE_KEY"


class NodeSettings(_Section):
    """What the verifier node serves and how it runs inference."""

    data_dir: Path = Path(".genoracle/node")
    models: list[str] = Field(default_factory=lambda: ["tiny-sd"])
    worker: Literal["process", "thread"] = "process"
    """Inference runs in a separate process (default) or thread; never in the chain loop."""
    inference_threads: int = Field(default=1, ge=1, le=256)
    resolve_tasks: bool = True
    """Send resolve() for tasks this node served once they are due (anyone may)."""
    recheck_interval_s: float = Field(default=10.0, gt=0, le=600)
    """Safety net: how often an open task is re-read with no event, deadline or reorg to wake
    it (each of those wakes it at once)."""
    max_step_attempts: int = Field(default=5, ge=1, le=100)
    """Rejected sends of one step before the node records the window as missed."""
    aggregate_reveals: bool = True
    """Reveal through one revealBatch per task (oracle/node/aggregation.py): the committee pays one
    reveal transaction instead of one each. Needs the registered endpoint to reach this API."""
    aggregation_wait_s: float = Field(default=3.0, ge=0, le=600)
    """The aggregated reveal's turn length: the members still to reveal take turns, this far
    apart, at collecting the openings and sending one batch (an aggregator collects for up to
    half of it). The last turn starts (committee size - 1) turns after the reveal phase: keep
    that well inside the reveal window."""
    peer_timeout_s: float = Field(default=1.0, gt=0, le=60)
    """Timeout of one request for a peer's opening."""
    pause_when_overloaded: bool = True
    """Pause this operator's assignments while the inference queued here would need more than
    `pause_share` of the commit window, and resume below `resume_share` (backpressure.py): a
    flood of requests is then refused by the contract instead of making the node miss."""
    pause_share: float = Field(default=0.5, gt=0, lt=1)
    resume_share: float = Field(default=0.25, gt=0, lt=1)
    keeper_delay_s: float | None = Field(default=30.0, ge=0, le=3600)
    """Act as a keeper: draw (drawCommittees) a task of a model this node serves but was not
    drawn for, if its members have not drawn it (by committing) this long after its randomness
    existed, so an absent committee is still drawn and answers for not committing. None: never."""
    audit_evidence_wait_s: float = Field(default=60.0, gt=0, le=3600)
    """Audited mode: how long an auditor keeps asking the executor for the challenged evidence
    (at most half the commit window left) before it commits the "evidence withheld" digest."""
    training_fetch_wait_s: float = Field(default=60.0, gt=0, le=3600)
    """Training tasks: how long a member waits for the task's data or a round's start checkpoint
    (at most half of what is left of the round's commit window) before it reveals that it was not
    served them."""

    @model_validator(mode="after")
    def _resume_below_pause(self) -> NodeSettings:
        if self.resume_share >= self.pause_share:
            raise ValueError(
                f"resume_share ({self.resume_share}) must be below pause_share "
                f"({self.pause_share}), or the node would pause and resume at once"
            )
        return self

    @field_validator("models")
    @classmethod
    def _at_least_one_model(cls, value: list[str]) -> list[str]:
        if not value or any(not name.strip() for name in value):
            raise ValueError("must list at least one model name or path, none empty")
        return value


class ApiSettings(_Section):
    """The node's HTTP API."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    token_env: str = "GENORACLE_API_TOKEN"
    """Environment variable holding the bearer token of the operator endpoints."""
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)


class ApiKeySettings(_Section):
    """One client of the gateway: its API key (never in the file: its sha256, or the env variable
    that holds it) and what it may spend."""

    key_sha256: str | None = None
    """Hex sha256 of the key (`genoracle gateway new-key` prints one)."""
    key_env: str | None = None
    """Or: the environment variable holding the key itself."""
    tasks_per_minute: int = Field(default=10, ge=1, le=100_000)
    """Submissions accepted in any 60-second window."""
    spend_per_day_eth: float = Field(default=0.1, gt=0)
    """Fees plus request gas the gateway pays for this key in any 24-hour window."""
    models: list[str] | None = None
    """Of the gateway's models, the ones this key may use (default: all)."""

    @field_validator("key_sha256")
    @classmethod
    def _sha256_hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.lower().removeprefix("0x")
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError("must be 64 hex digits (the sha256 of the key)")
        return text

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeySettings:
        if (self.key_sha256 is None) == (self.key_env is None):
            raise ValueError("give exactly one of key_sha256 or key_env")
        return self


class GatewaySettings(_Section):
    """The HTTP gateway: web2 clients submit tasks with an API key; the gateway pays."""

    host: str = "127.0.0.1"
    port: int = Field(default=8800, ge=0, le=65535)
    data_dir: Path = Path(".genoracle/gateway")
    """Its ledger (SQLite): which key submitted which task, and what it cost."""
    models: list[str] = Field(default_factory=lambda: ["tiny-sd"])
    """Models clients may request: built-in names or model folders (resolved at start)."""
    committee_size: int = Field(default=3, ge=1, le=255)
    """The committee a request gets when it names none."""
    max_committee_size: int = Field(default=7, ge=1, le=255)
    """The largest committee a client may ask for (the fee grows with it)."""
    request_gas_reserve: int = Field(default=200_000, ge=21_000)
    """Gas counted against a key's limit and the gateway's balance before a request is sent
    (its real cost is counted once mined)."""
    keys: dict[str, ApiKeySettings] = Field(default_factory=dict, validate_default=True)
    """Clients by name: `[gateway.keys.NAME]` tables."""

    @field_validator("models")
    @classmethod
    def _at_least_one_model(cls, value: list[str]) -> list[str]:
        if not value or any(not name.strip() for name in value):
            raise ValueError("must list at least one model name or path, none empty")
        return value

    @field_validator("keys")
    @classmethod
    def _at_least_one_key(cls, value: dict[str, ApiKeySettings]) -> dict[str, ApiKeySettings]:
        if not value:
            raise ValueError(
                "no API keys: add a [gateway.keys.NAME] table (genoracle gateway new-key NAME)"
            )
        return value


class ClientConfig(_Section):
    """What a requester (SDK, CLI) needs: the chain and a key."""

    chain: ChainSettings = Field(default_factory=ChainSettings)
    account: AccountSettings = Field(default_factory=AccountSettings)


class NodeConfig(ClientConfig):
    """A verifier node's whole configuration."""

    node: NodeSettings = Field(default_factory=NodeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


class GatewayConfig(ClientConfig):
    """The gateway's whole configuration: the chain, its paying account, its clients."""

    gateway: GatewaySettings


_SECTIONS: dict[str, type[_Section]] = {
    "chain": ChainSettings,
    "account": AccountSettings,
    "node": NodeSettings,
    "api": ApiSettings,
    "gateway": GatewaySettings,
}
_PATH_KEYS = {
    ("chain", "deployments_dir"),
    ("account", "keystore"),
    ("account", "password_file"),
    ("node", "data_dir"),
    ("gateway", "data_dir"),
}


def env_var_name(section: str, key: str) -> str:
    """The environment variable that overrides `section.key`, e.g. GENORACLE_CHAIN_RPC_URL."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _env_value(section: str, key: str, raw: str) -> Any:
    """Environment values are strings; lists are comma separated, the rest pydantic coerces."""
    if (section, key) in (("node", "models"), ("gateway", "models")):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _merge_sources(
    data: dict[str, Any], environ: Mapping[str, str], sections: tuple[str, ...], base_dir: Path
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """Overlay env vars on the file's values; remember which keys came from which variable."""
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, str], str] = {}
    for section, table in data.items():
        if section not in sections:
            merged[section] = table  # pydantic reports it as an unknown section
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table of keys, got {table!r}")
        merged[section] = dict(table)
    for section in sections:
        for key in _SECTIONS[section].model_fields:
            name = env_var_name(section, key)
            if name in environ:
                merged.setdefault(section, {})[key] = _env_value(section, key, environ[name])
                origins[(section, key)] = name
    for section, key in _PATH_KEYS:
        table = merged.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and key in table:
            path = Path(table[key]).expanduser()
            table[key] = path if path.is_absolute() else base_dir / path
    return merged, origins


def _format_errors(exc: ValidationError, origins: dict[tuple[str, str], str], source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc) if loc else "(top level)"
        origin = origins.get((loc[0], loc[1])) if len(loc) >= 2 else None
        where = f"environment variable {origin}" if origin else source
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the documented keys)"
        if error["type"] == "missing":
            lines.append(f"{key}: required but missing ({where})")
            continue
        lines.append(f"{key} = {error.get('input')!r}: {message} ({where})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _load(
    model: type[ClientConfig],
    path: Path | None,
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, Mapping[str, Any]] | None,
) -> ClientConfig:
    environ = os.environ if environ is None else environ
    sections = tuple(name for name in model.model_fields)
    data = _read_toml(path) if path is not None else {}
    base_dir = path.parent.resolve() if path is not None else Path.cwd()
    merged, origins = _merge_sources(data, environ, sections, base_dir)
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                merged.setdefault(section, {})[key] = value
                origins[(section, key)] = "command-line option"
    source = f"config file {str(path)!r}" if path is not None else "defaults"
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origins, source)) from None


def load_node_config(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> NodeConfig:
    """Read and validate a node's TOML file, with env variables and CLI overrides on top."""
    config = _load(NodeConfig, path, environ, overrides)
    assert isinstance(config, NodeConfig)
    return config


def load_gateway_config(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> GatewayConfig:
    """Read and validate the gateway's TOML file, with env variables and overrides on top."""
    config = _load(GatewayConfig, path, environ, overrides)
    assert isinstance(config, GatewayConfig)
    return config


def load_client_config(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ClientConfig:
    """Like `load_node_config` for requesters: only [chain] and [account] are read."""
    data_sections = set(_read_toml(path)) if path is not None else set()
    if path is not None and data_sections & {"node", "api"}:
        # A node's file is a fine client config: take only the sections a client needs.
        node_config = load_node_config(path, environ, overrides)
        return ClientConfig(chain=node_config.chain, account=node_config.account)
    if path is not None and "gateway" in data_sections:
        gateway_config = load_gateway_config(path, environ, overrides)
        return ClientConfig(chain=gateway_config.chain, account=gateway_config.account)
    return _load(ClientConfig, path, environ, overrides)
