"""Merkle trees over per-step states, positional: a proof fixes the leaf's position, so a tree
holds exactly one leaf per index (AuditedTasks' ``_proves`` checks the same on chain).

keccak256, not sha256: the contract verifies proofs, and keccak256 is the EVM's native hash (30
gas + 6 per word against the sha256 precompile's 60 + 12 and a call). A leaf is
``keccak256(bytes.concat(keccak256(abi.encode(uint256 index, bytes32 payload))))`` (the double
hash keeps a leaf from being passed off as an inner node), an inner node is the keccak256 of its
left child then its right, and an odd node at the end of a level moves up unpaired. A proof is
checked against the tree's size and the leaf's index, which fix its length and each sibling's
side. Why not OpenZeppelin's sorted (commutative) pairs: they prove membership, not position, so
an executor could build a tree holding two leaves that claim one index and serve each auditor a
different one, getting the honest auditor it contradicts slashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def leaf_hash(index: int, payload: bytes) -> bytes:
    """The leaf of position ``index`` holding a 32-byte payload (a state's hash or a sketch)."""
    if len(payload) != 32:
        raise ValueError(f"a leaf payload has 32 bytes, got {len(payload)}")
    if index < 0:
        raise ValueError(f"a leaf index is >= 0, got {index}")
    return bytes(keccak(keccak(_word(index) + payload)))


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node: keccak256 of the left child, then the right."""
    return bytes(keccak(left + right))


def salted_payload(sketch: bytes, salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 sketch, bytes32 salt))``: a sketch hidden until opened."""
    if len(sketch) != 32 or len(salt) != 32:
        raise ValueError("a sketch and its salt have 32 bytes each")
    return bytes(keccak(sketch + salt))


def leaf_salt(secret: bytes, index: int) -> bytes:
    """The salt of one sketch leaf: from the executor's secret, so it stores one value."""
    return bytes(keccak(secret + _word(index)))


@dataclass(frozen=True)
class MerkleTree:
    """All levels of a tree, leaves first; ``root`` commits to every payload and its index."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, payloads: Sequence[bytes]) -> MerkleTree:
        if not payloads:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = tuple(leaf_hash(i, p) for i, p in enumerate(payloads))
        levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = tuple(paired)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """The siblings from leaf ``index`` up to the root (levels where it is unpaired skip)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size} leaves")
        siblings = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                siblings.append(level[sibling])
            index //= 2
        return siblings


def verify_proof(
    root: bytes, size: int, index: int, payload: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``payload`` is leaf ``index`` of the tree of ``size`` leaves with ``root``, and
    ``proof`` is exactly its path's siblings (what AuditedTasks' ``_proves`` checks)."""
    if not 0 <= index < size:
        return False
    node = leaf_hash(index, payload)
    used = 0
    n = size
    while n > 1:
        if index ^ 1 < n:
            if used == len(proof):
                return False
            sibling = proof[used]
            used += 1
            node = node_hash(node, sibling) if index % 2 == 0 else node_hash(sibling, node)
        index //= 2
        n = (n + 1) // 2
    return used == len(proof) and node == root


@dataclass(frozen=True)
class Commitment:
    """What an executor submits besides the result digest (the evidence tree over its states and
    the salted tree over their sketches), and what it keeps to answer a challenge."""

    evidence: MerkleTree
    sketches: tuple[bytes, ...]
    sketch_tree: MerkleTree
    secret: bytes

    @classmethod
    def build(
        cls, evidence_payloads: Sequence[bytes], sketches: Sequence[bytes], secret: bytes
    ) -> Commitment:
        salted = [salted_payload(s, leaf_salt(secret, i)) for i, s in enumerate(sketches)]
        return cls(
            MerkleTree.build(evidence_payloads), tuple(sketches), MerkleTree.build(salted), secret
        )

    def opening(self, index: int) -> tuple[bytes, bytes, list[bytes]]:
        """Sketch, salt and proof of state ``index``, opened once the auditors have committed."""
        return self.sketches[index], leaf_salt(self.secret, index), self.sketch_tree.proof(index)
