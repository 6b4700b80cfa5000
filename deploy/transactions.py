"""Sending signed transactions and deploying contracts from the committed artifacts (the
deployer's and the module deployers' shared plumbing)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt, Wei

from deploy.artifacts import load_artifact
from deploy.errors import DeploymentError
from deploy.fees import fee_caps

ORACLE_CONTRACT = "GenerationOracle"


def contract_factory(w3: Web3, name: str) -> type[Contract]:
    artifact = load_artifact(name)
    return w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])


def oracle_at(w3: Web3, address: str) -> Contract:
    """The GenerationOracle at `address`, with the committed ABI."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(ORACLE_CONTRACT)["abi"]
    )


def send_transaction(w3: Web3, account: LocalAccount, tx: TxParams) -> TxReceipt:
    """Fill nonce/chain/gas/fees, sign locally, send, wait; raise if the transaction reverted."""
    tx = dict(tx)  # type: ignore[assignment]
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = int(w3.eth.estimate_gas(tx) * 1.2) + 10_000
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        tip = int(w3.eth.max_priority_fee)
        max_fee, priority_fee = fee_caps(base_fee, tip)
        tx["maxFeePerGas"] = Wei(max_fee)
        tx["maxPriorityFeePerGas"] = Wei(priority_fee)
    signed = account.sign_transaction(tx)  # type: ignore[arg-type]
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise DeploymentError(f"transaction {tx_hash.hex()} reverted")
    return receipt


def deploy_contract(
    w3: Web3, account: LocalAccount, name: str, *args: Any
) -> tuple[ChecksumAddress, TxReceipt]:
    """Deploy contract `name` from its committed artifact; return its address and receipt."""
    factory = contract_factory(w3, name)
    tx = factory.constructor(*args).build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    )
    receipt = send_transaction(w3, account, tx)
    address = receipt["contractAddress"]
    if address is None:
        raise DeploymentError(f"deploying {name} produced no contract address")
    return Web3.to_checksum_address(address), receipt
