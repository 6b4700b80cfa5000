"""Deploy TrainingTasks (the training task module) for an oracle and attach it.

Attaching needs the oracle's model registry owner twice: `attachTrainingTasks(address)` on the
oracle (the host serves the module's draws and settlements), and `setRegistrar(address)` on the
registry (the module registers each completed fine-tune as a model derived from its base).
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from deploy.artifacts import load_artifact
from deploy.transactions import deploy_contract, oracle_at, send_transaction

TRAINING_CONTRACT = "TrainingTasks"
#: Seconds the committee has to train one round and commit (a Digits-Gen round of 10 steps and
#: its probe digest take a few seconds on one CPU thread; the rest is fetching the checkpoint).
TRAINING_ROUND_WINDOW = 600
#: The round tolerance floor, lanes 4/19/8/11 (inference.training.digest.ROUND_TOLERANCE, the
#: training study's calibration; a test checks they are the same), lane 0 most significant.
ROUND_TOLERANCE_FLOOR = 0x0413080B
#: The loosest round tolerance a request may ask for: half a lane's bits in every lane.
MAX_ROUND_TOLERANCE = 0x20202020


def training_at(w3: Web3, address: str) -> Contract:
    """The TrainingTasks contract at `address`, with the committed ABI."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact(TRAINING_CONTRACT)["abi"]
    )


def deploy_training(
    w3: Web3,
    deployer: LocalAccount,
    oracle_address: str,
    round_window: int = TRAINING_ROUND_WINDOW,
) -> tuple[ChecksumAddress, bool]:
    """Deploy TrainingTasks for the oracle at `oracle_address`; attach it and make it the
    registry's registrar when the deployer owns the oracle's model registry. Returns its address
    and whether it was attached (if not, the registry owner must call `attachTrainingTasks` on the
    oracle and `setRegistrar` on the registry)."""
    training, _ = deploy_contract(
        w3,
        deployer,
        TRAINING_CONTRACT,
        oracle_address,
        round_window,
        ROUND_TOLERANCE_FLOOR,
        MAX_ROUND_TOLERANCE,
    )
    oracle = oracle_at(w3, oracle_address)
    models = w3.eth.contract(
        address=oracle.functions.models().call(), abi=load_artifact("ModelRegistry")["abi"]
    )
    if models.functions.owner().call() != deployer.address:
        return training, False
    host = w3.eth.contract(
        address=Web3.to_checksum_address(oracle_address), abi=load_artifact("ITrainingHost")["abi"]
    )
    for fn in (
        host.functions.attachTrainingTasks(training),
        models.functions.setRegistrar(training),
    ):
        tx = fn.build_transaction(
            {
                "from": deployer.address,
                "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
            }
        )
        send_transaction(w3, deployer, tx)
    return training, True
