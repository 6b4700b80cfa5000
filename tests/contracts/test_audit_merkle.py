"""The audited mode's Merkle trees and challenge, checked by the EVM: OpenZeppelin's
MerkleProof accepts every proof `inference.audit.merkle` makes (and no tampered one), the salted
sketch leaf is `keccak256(abi.encode(sketch, salt))`, and a Solidity loop draws the same challenge
as `inference.audit.challenge` (so the future contract can use these unchanged)."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from deploy.artifacts import PROJECT_ROOT
from deploy.compile import EVM_VERSION, SHIM
from inference.audit.challenge import challenge_indices
from inference.audit.merkle import MerkleTree, leaf_hash, salted_payload

PROBE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

contract AuditProbe {
    function leaf(uint256 index, bytes32 payload) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, payload))));
    }

    function verify(bytes32[] calldata proof, bytes32 root, uint256 index, bytes32 payload)
        external pure returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, root, leaf(index, payload));
    }

    function salted(bytes32 sketch, bytes32 salt) external pure returns (bytes32) {
        return keccak256(abi.encode(sketch, salt));
    }

    function challenge(bytes32 seed, uint256 n, uint256 k)
        external pure returns (uint256[] memory)
    {
        uint256[] memory pool = new uint256[](n);
        for (uint256 i; i < n; ++i) pool[i] = i;
        if (k > n) k = n;
        for (uint256 j; j < k; ++j) {
            uint256 pick = j + uint256(keccak256(abi.encode(seed, j))) % (n - j);
            (pool[j], pool[pick]) = (pool[pick], pool[j]);
        }
        uint256[] memory picked = new uint256[](k);
        for (uint256 j; j < k; ++j) picked[j] = pool[j];
        return picked;
    }
}
"""


@pytest.fixture(scope="module")
def probe(w3: Web3) -> Any:
    import solcx

    name = "tests/contracts/AuditProbe.sol"
    output = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {name: {"content": PROBE}},
            "settings": {
                "evmVersion": EVM_VERSION,
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        },
        solc_binary=SHIM,
        base_path=PROJECT_ROOT,
    )
    compiled = output["contracts"][name]["AuditProbe"]
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["evm"]["bytecode"]["object"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": w3.eth.accounts[0]})
    )
    return w3.eth.contract(address=receipt["contractAddress"], abi=compiled["abi"])


@pytest.mark.parametrize("n", [1, 2, 7, 20])
def test_openzeppelin_verifies_our_proofs(probe: Any, n: int) -> None:
    payloads = [bytes([i + 1]) * 32 for i in range(n)]
    tree = MerkleTree.build(payloads)
    for index, payload in enumerate(payloads):
        proof = tree.proof(index)
        assert probe.functions.leaf(index, payload).call() == leaf_hash(index, payload)
        assert probe.functions.verify(proof, tree.root, index, payload).call()
        assert not probe.functions.verify(proof, tree.root, index, b"\x00" * 32).call()


def test_salted_leaf_and_challenge_match_solidity(probe: Any) -> None:
    sketch, salt = b"\x11" * 32, b"\x22" * 32
    assert probe.functions.salted(sketch, salt).call() == salted_payload(sketch, salt)
    for seed in (b"\x01" * 32, b"\xab" * 32):
        for n, k in ((20, 1), (20, 4), (50, 8), (3, 5)):
            on_chain = sorted(probe.functions.challenge(seed, n, k).call())
            assert on_chain == challenge_indices(seed, n, k)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 20, 33])
def test_multiproof_covers_the_challenged_leaves_once(n: int) -> None:
    """AuditedTasks' one proof for the four challenged leaves (`MerkleTree.multiproof`, checked
    as `_verifyChallenged` does): exact, shorter than four single proofs, tamper-evident."""
    from inference.audit.merkle import verify_multiproof
    from oracle.chain.audited import challenge

    payloads = [bytes([i + 1]) * 32 for i in range(n)]
    tree = MerkleTree.build(payloads)
    for seed in (b"\x01" * 32, b"\xab" * 32, b"\x5c" * 32):
        indices = challenge(seed, n)
        proof = tree.multiproof(indices)
        leaves = [(i, payloads[i]) for i in indices]
        assert verify_multiproof(tree.root, n, leaves, proof)
        assert len(proof) <= sum(len(tree.proof(i)) for i in sorted(set(indices)))
        assert not verify_multiproof(tree.root, n, leaves, [*proof, tree.root])
        if proof:
            assert not verify_multiproof(tree.root, n, leaves, proof[:-1])
        forged = [(indices[0], b"\x00" * 32), *leaves[1:]]
        assert not verify_multiproof(tree.root, n, forged, proof)
