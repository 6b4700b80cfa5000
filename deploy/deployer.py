"""Deploy the oracle (and optionally the example consumer) to any RPC, and keep per-chain records.

A record, <records dir>/<chainId>.json, says where the oracle lives on that chain, who deployed
it, in which block, with which configuration and which artifact (by sha256), so clients can find
it and refuse a record that belongs to another chain or another build. The records dir is
$GENORACLE_DEPLOYMENTS_DIR, else `deployments` in the genoracle home (inference/home.py: the
checkout's .genoracle, or ~/.genoracle), never the installed package; `load_deployment` is the
one reader of records, for the CLI, the SDK and the node alike. A new deployment never replaces
a record silently: the previous one is kept beside it, renamed, and the deployer is told.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from deploy.artifacts import artifact_hash, load_artifact
from deploy.errors import DeploymentError
from deploy.training import deploy_training
from deploy.transactions import ORACLE_CONTRACT as ORACLE_CONTRACT
from deploy.transactions import deploy_contract as deploy_contract
from deploy.transactions import oracle_at as oracle_at
from deploy.transactions import send_transaction as send_transaction
from inference.home import genoracle_home

log = logging.getLogger(__name__)

RECORDS_ENV = "GENORACLE_DEPLOYMENTS_DIR"
CONSUMER_CONTRACT = "ExampleGenerationGallery"
AUDITED_CONTRACT = "AuditedTasks"
ETHER = 10**18


@dataclass(frozen=True)
class OracleConfig:
    """The GenerationOracle constructor's Config struct (fixed for the life of a deployment)."""

    min_stake: int = 1 * ETHER
    min_fee_per_member: int = ETHER // 1000
    commit_window: int = 300
    reveal_window: int = 300
    unbonding_delay: int = 3600
    slash_deviation_bps: int = 1000
    slash_no_commit_bps: int = 200
    max_callback_gas_limit: int = 500_000
    max_committee_size: int = 7
    callback_gas_price: int = 10**9  # wei per callback gas, credited to the resolver
    treasury: str | None = None  # None: the deployer

    def as_tuple(self, default_treasury: str) -> tuple[Any, ...]:
        """The struct as the ABI encoder wants it, in field order."""
        treasury = Web3.to_checksum_address(self.treasury or default_treasury)
        values = [getattr(self, f.name) for f in fields(self) if f.name != "treasury"]
        return (*values, treasury)

    @classmethod
    def from_chain(cls, oracle: Contract) -> OracleConfig:
        """Read the configuration a deployed oracle was built with."""
        values = oracle.functions.config().call()
        names = [f.name for f in fields(cls)]
        return cls(**dict(zip(names, values, strict=True)))


@dataclass(frozen=True)
class Deployment:
    """Where the oracle lives on one chain, and how it got there."""

    chain_id: int
    oracle: str
    block_number: int
    deployer: str
    transaction_hash: str
    artifact_hash: str
    config: dict[str, Any]
    consumer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    audited: str | None = None
    """The AuditedTasks contract (audited mode) attached to the oracle, if any."""
    training: str | None = None
    """The TrainingTasks contract (training tasks) attached to the oracle, if any."""

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "oracle": self.oracle,
            "consumer": self.consumer,
            **({"auditedTasks": self.audited} if self.audited else {}),
            **({"trainingTasks": self.training} if self.training else {}),
            "blockNumber": self.block_number,
            "deployer": self.deployer,
            "transactionHash": self.transaction_hash,
            "artifactHash": self.artifact_hash,
            "config": self.config,
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        try:
            return cls(
                chain_id=int(data["chainId"]),
                oracle=Web3.to_checksum_address(data["oracle"]),
                block_number=int(data["blockNumber"]),
                deployer=Web3.to_checksum_address(data["deployer"]),
                transaction_hash=str(data["transactionHash"]),
                artifact_hash=str(data["artifactHash"]),
                config=dict(data["config"]),
                consumer=Web3.to_checksum_address(data["consumer"])
                if data.get("consumer")
                else None,
                extra=dict(data.get("extra", {})),
                audited=Web3.to_checksum_address(data["auditedTasks"])
                if data.get("auditedTasks")
                else None,
                training=Web3.to_checksum_address(data["trainingTasks"])
                if data.get("trainingTasks")
                else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentError(f"malformed deployment record: {exc!r}") from exc

    def oracle_contract(self, w3: Web3) -> Contract:
        """The oracle as a web3 contract object."""
        return oracle_at(w3, self.oracle)


def deployments_dir() -> Path:
    """Where deployment records live: $GENORACLE_DEPLOYMENTS_DIR, else <home>/deployments."""
    configured = os.environ.get(RECORDS_ENV, "").strip()
    return Path(configured).expanduser() if configured else genoracle_home() / "deployments"


def record_path(chain_id: int, records_dir: Path | None = None) -> Path:
    """The record file of `chain_id` (`records_dir` None: the documented location)."""
    return (records_dir if records_dir is not None else deployments_dir()) / f"{chain_id}.json"


def _kept_name(path: Path, chain_id: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = path.with_name(f"{chain_id}.replaced-{stamp}.json")
    counter = 1
    while kept.exists():
        counter += 1
        kept = path.with_name(f"{chain_id}.replaced-{stamp}-{counter}.json")
    return kept


def save_deployment(deployment: Deployment, records_dir: Path) -> tuple[Path, Path | None]:
    """Write the record of `deployment`; returns its path and, when the chain had another
    record, where that one was kept (never overwritten: renamed <chainId>.replaced-<UTC>.json)."""
    records_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(deployment.chain_id, records_dir)
    text = json.dumps(deployment.to_json(), indent=2) + "\n"
    kept = None
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return path, None
        kept = _kept_name(path, deployment.chain_id)
        path.rename(kept)
    path.write_text(text, encoding="utf-8")
    return path, kept


def read_deployment(path: Path) -> Deployment:
    """The record stored at `path` (any file, e.g. one copied from another machine)."""
    if not path.is_file():
        raise DeploymentError(f"no deployment record at {path}: run `genoracle deploy` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DeploymentError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DeploymentError(f"{path} is not a deployment record (a JSON object)")
    return Deployment.from_json(data)


def load_deployment(chain_id: int, records_dir: Path | None = None) -> Deployment:
    """The record for `chain_id` from `records_dir` (None: the documented location,
    `deployments_dir()`); refuses a record whose own chain id differs from its file name."""
    path = record_path(chain_id, records_dir)
    if not path.is_file():
        raise DeploymentError(
            f"no deployment record for chain {chain_id} at {path}: run `genoracle deploy` (or "
            f"`genoracle chain up`) first, or point {RECORDS_ENV} / --records-dir at the folder "
            "holding it"
        )
    deployment = read_deployment(path)
    if deployment.chain_id != chain_id:
        raise DeploymentError(
            f"{path} records chain {deployment.chain_id}, not chain {chain_id}: "
            "the record belongs to another network"
        )
    return deployment


def check_chain_id(w3: Web3, expected_chain_id: int, what: str) -> None:
    """Refuse to act on `w3` unless it serves chain `expected_chain_id` (`what` says why)."""
    actual = w3.eth.chain_id
    if actual != expected_chain_id:
        raise DeploymentError(
            f"chain id mismatch: {what} is for chain {expected_chain_id}, but the RPC serves "
            f"chain {actual}; point --rpc-url at chain {expected_chain_id} or use chain "
            f"{actual}'s record"
        )


def check_deployment(w3: Web3, deployment: Deployment) -> None:
    """Check `deployment` against the chain `w3` serves: same chain id, the oracle (and the
    consumer, if any) deployed there, and the oracle built with the recorded configuration."""
    check_chain_id(w3, deployment.chain_id, f"the deployment record of {deployment.oracle}")
    roles = (
        ("oracle", deployment.oracle),
        ("consumer", deployment.consumer),
        ("audited tasks", deployment.audited),
        ("training tasks", deployment.training),
    )
    for role, address in roles:
        if address is not None and not w3.eth.get_code(Web3.to_checksum_address(address)):
            raise DeploymentError(
                f"no contract at {address} ({role}) on chain {deployment.chain_id}: the record "
                "is stale (a restarted local chain?); deploy again"
            )
    try:
        on_chain = asdict(OracleConfig.from_chain(deployment.oracle_contract(w3)))
    except (Web3Exception, TypeError, ValueError) as exc:
        raise DeploymentError(
            f"the contract at {deployment.oracle} on chain {deployment.chain_id} does not answer "
            f"config() like this build's GenerationOracle ({exc}); deploy again"
        ) from exc
    on_chain["treasury"] = Web3.to_checksum_address(on_chain["treasury"])
    if on_chain != deployment.config:
        raise DeploymentError(
            f"the oracle at {deployment.oracle} on chain {deployment.chain_id} has configuration "
            f"{on_chain}, but the record says {deployment.config}: the record does not describe "
            "this contract"
        )


def deployment_for(w3: Web3, records_dir: Path | None = None) -> Deployment:
    """The record for the chain `w3` is connected to, checked against the code on chain."""
    deployment = load_deployment(w3.eth.chain_id, records_dir)
    check_deployment(w3, deployment)
    return deployment


def audited_at(w3: Web3, address: str) -> Contract:
    """The AuditedTasks contract at `address`, with the committed ABI."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(AUDITED_CONTRACT)["abi"]
    )


def deploy_audited(
    w3: Web3, deployer: LocalAccount, oracle_address: str
) -> tuple[ChecksumAddress, bool]:
    """Deploy AuditedTasks for the oracle at `oracle_address` and attach it when the deployer
    owns the oracle's model registry (the only account allowed to attach it, once). Returns its
    address and whether it was attached (if not, the registry owner must call
    `attachAuditedTasks(address)` on the oracle)."""
    audited, _ = deploy_contract(w3, deployer, AUDITED_CONTRACT, oracle_address)
    oracle = oracle_at(w3, oracle_address)
    models = w3.eth.contract(
        address=oracle.functions.models().call(), abi=load_artifact("ModelRegistry")["abi"]
    )
    if models.functions.owner().call() != deployer.address:
        return audited, False
    host = w3.eth.contract(
        address=Web3.to_checksum_address(oracle_address), abi=load_artifact("IAuditHost")["abi"]
    )
    tx = host.functions.attachAuditedTasks(audited).build_transaction(
        {
            "from": deployer.address,
            "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        }
    )
    send_transaction(w3, deployer, tx)
    return audited, True


def deploy_oracle(
    w3: Web3,
    deployer: LocalAccount,
    config: OracleConfig | None = None,
    *,
    owner: str | None = None,
    example_consumer: bool = False,
    records_dir: Path | None,
    expected_chain_id: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy GenerationOracle (owner: `owner` or the deployer) and its AuditedTasks and
    TrainingTasks (attached when the deployer is the owner), record them, and check the record.

    With `example_consumer`, also deploy the ExampleGenerationGallery dApp (any model) against it.
    With `expected_chain_id`, refuse to deploy to an RPC that serves another chain.

    The record goes to `records_dir` (`deployments_dir()` is the documented location; None
    writes no record: local test chains). It is read back from disk and checked against the
    chain (check_deployment), so a deployment that returns is one a client can use. A previous
    record of the chain is kept, renamed, and `announce` (default: a log warning) says where.
    """
    if expected_chain_id is not None:
        check_chain_id(w3, expected_chain_id, "this deployment")
    config = config or OracleConfig()
    owner_address = Web3.to_checksum_address(owner or deployer.address)
    oracle_address, receipt = deploy_contract(
        w3, deployer, ORACLE_CONTRACT, owner_address, config.as_tuple(deployer.address)
    )
    audited_address, attached = deploy_audited(w3, deployer, oracle_address)
    training_address, training_attached = deploy_training(w3, deployer, oracle_address)
    if not attached or not training_attached:
        (announce or log.warning)(
            f"AuditedTasks deployed at {audited_address}, TrainingTasks at {training_address}; "
            f"the registry owner {owner_address} must attach them (attachAuditedTasks, "
            "attachTrainingTasks on the oracle; setRegistrar(TrainingTasks) on the registry)"
        )
    consumer_address = None
    if example_consumer:
        consumer_address, _ = deploy_contract(
            w3, deployer, CONSUMER_CONTRACT, oracle_address, owner_address
        )
    resolved_config = asdict(config)
    resolved_config["treasury"] = Web3.to_checksum_address(config.treasury or deployer.address)
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        oracle=oracle_address,
        block_number=int(receipt["blockNumber"]),
        deployer=deployer.address,
        transaction_hash="0x" + bytes(receipt["transactionHash"]).hex().removeprefix("0x"),
        artifact_hash=artifact_hash(ORACLE_CONTRACT),
        config=resolved_config,
        consumer=consumer_address,
        audited=audited_address,
        training=training_address,
    )
    if records_dir is not None:
        path, kept = save_deployment(deployment, records_dir)
        if kept is not None:
            (announce or log.warning)(
                f"chain {deployment.chain_id} had a deployment record already: kept it as {kept}"
            )
        if load_deployment(deployment.chain_id, records_dir) != deployment:
            raise DeploymentError(f"{path} does not read back as the deployment just written")
    check_deployment(w3, deployment)
    return deployment
