"""The audited mode's Merkle trees and challenge, checked by the EVM: a plain Solidity walk of a
positional path (the reference for AuditedTasks' assembly `_proves`) accepts every proof
`inference.audit.merkle` makes and no tampered one, a tree cannot prove two leaves for one index
(the sorted-pair trees it replaced could), the salted sketch leaf is
`keccak256(abi.encode(sketch, salt))`, and a Solidity loop draws the same challenge as
`inference.audit.challenge`."""

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

contract AuditProbe {
    function leaf(uint256 index, bytes32 payload) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, payload))));
    }

    function verify(
        bytes32[] calldata proof, bytes32 root, uint256 size, uint256 index, bytes32 payload
    ) external pure returns (bool) {
        if (index >= size) return false;
        bytes32 node = leaf(index, payload);
        uint256 used;
        for (uint256 n = size; n > 1; n = (n + 1) / 2) {
            if ((index ^ 1) < n) {
                if (used == proof.length) return false;
                node = index % 2 == 0
                    ? keccak256(abi.encode(node, proof[used]))
                    : keccak256(abi.encode(proof[used], node));
                ++used;
            }
            index /= 2;
        }
        return used == proof.length && node == root;
    }

    function sortedPairRoot(bytes32 a, bytes32 b) external pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
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


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 33])
def test_the_evm_verifies_our_proofs_at_their_positions(probe: Any, n: int) -> None:
    from inference.audit.merkle import verify_proof

    payloads = [bytes([i + 1]) * 32 for i in range(n)]
    tree = MerkleTree.build(payloads)
    for index, payload in enumerate(payloads):
        proof = tree.proof(index)
        assert probe.functions.leaf(index, payload).call() == leaf_hash(index, payload)
        assert probe.functions.verify(proof, tree.root, n, index, payload).call()
        assert verify_proof(tree.root, n, index, payload, proof)
        assert not probe.functions.verify(proof, tree.root, n, index, b"\x00" * 32).call()
        assert not probe.functions.verify([*proof, tree.root], tree.root, n, index, payload).call()
        if proof:
            assert not probe.functions.verify(proof[:-1], tree.root, n, index, payload).call()


def test_a_tree_cannot_prove_two_leaves_for_one_index(probe: Any) -> None:
    """The attack the positional tree stops: an executor puts a second leaf claiming index 3
    (another latent) at position 0 and serves each auditor a different one, so the auditors
    disagree and the one it contradicts is slashed. With sorted pairs (OpenZeppelin's
    MerkleProof) both paths verify; position by position only the leaf at position 3 does."""
    from inference.audit.merkle import leaf_hash, node_hash, verify_proof

    honest, planted = b"\x01" * 32, b"\x02" * 32
    forged = [
        leaf_hash(3, planted),
        leaf_hash(1, b"\x11" * 32),
        leaf_hash(2, b"\x12" * 32),
        leaf_hash(3, honest),
    ]
    root = node_hash(node_hash(forged[0], forged[1]), node_hash(forged[2], forged[3]))
    true_path = [forged[2], node_hash(forged[0], forged[1])]
    planted_path = [forged[1], node_hash(forged[2], forged[3])]
    assert probe.functions.verify(true_path, root, 4, 3, honest).call()
    assert verify_proof(root, 4, 3, honest, true_path)
    assert not probe.functions.verify(planted_path, root, 4, 3, planted).call()
    assert not verify_proof(root, 4, 3, planted, planted_path)

    def sorted_pair(a: bytes, b: bytes) -> bytes:
        return bytes(probe.functions.sortedPairRoot(a, b).call())

    sorted_root = sorted_pair(sorted_pair(forged[0], forged[1]), sorted_pair(forged[2], forged[3]))
    for leaf, path in ((forged[3], true_path), (forged[0], planted_path)):
        node = leaf
        for sibling in path:
            node = sorted_pair(node, sibling)
        assert node == sorted_root  # both would have proven under sorted pairs


def test_salted_leaf_and_challenge_match_solidity(probe: Any) -> None:
    sketch, salt = b"\x11" * 32, b"\x22" * 32
    assert probe.functions.salted(sketch, salt).call() == salted_payload(sketch, salt)
    for seed in (b"\x01" * 32, b"\xab" * 32):
        for n, k in ((20, 1), (20, 4), (50, 8), (3, 5), (1, 1)):
            on_chain = sorted(probe.functions.challenge(seed, n, k).call())
            assert on_chain == challenge_indices(seed, n, k)
