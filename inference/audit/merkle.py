"""Merkle trees over per-step states, built so that OpenZeppelin's ``MerkleProof.verify`` checks
their proofs on chain unchanged.

keccak256, not sha256: the contract verifies proofs, and keccak256 is the EVM's native hash (30
gas + 6 per word against the sha256 precompile's 60 + 12 and a call). Conventions are OZ's:
a leaf is ``keccak256(bytes.concat(keccak256(abi.encode(uint256 index, bytes32 payload))))`` (the
double hash keeps a leaf from being passed off as an inner node), an inner node is the keccak256
of its two children sorted (commutative, so a proof is just the siblings), and an odd node at the
end of a level moves up unpaired. The index inside the leaf binds each state to its position.
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


def node_hash(a: bytes, b: bytes) -> bytes:
    """OZ's commutative pair hash: keccak256 of the two children, smaller first."""
    return bytes(keccak(a + b if a <= b else b + a))


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

    def multiproof(self, indices: Sequence[int]) -> list[bytes]:
        """One proof for several leaves (AuditedTasks' ``_verifyChallenged``): the siblings their
        paths need and the other leaves' paths do not give, level by level from the leaves up,
        left to right. A repeated index counts once."""
        known = sorted(set(indices))
        for index in known:
            if not 0 <= index < self.size:
                raise IndexError(f"leaf {index} is outside a tree of {self.size} leaves")
        siblings = []
        for level in self.levels[:-1]:
            parents = []
            r = 0
            while r < len(known):
                index = known[r]
                sibling = index ^ 1
                if r + 1 < len(known) and known[r + 1] == sibling:
                    r += 1
                elif sibling < len(level):
                    siblings.append(level[sibling])
                parents.append(index >> 1)
                r += 1
            known = parents
        return siblings


def verify_multiproof(
    root: bytes, size: int, leaves: Sequence[tuple[int, bytes]], proof: Sequence[bytes]
) -> bool:
    """What AuditedTasks checks: ``leaves`` (index, payload; a repeated index must carry the
    same payload) are in the tree of ``size`` leaves with ``root``, and ``proof`` is exactly the
    siblings their paths need."""
    by_index: dict[int, bytes] = {}
    for index, payload in leaves:
        leaf = leaf_hash(index, payload)
        if by_index.setdefault(index, leaf) != leaf:
            return False
    nodes = sorted(by_index.items())
    if not nodes:
        return False
    used = 0
    n = size
    while n > 1:
        parents: list[tuple[int, bytes]] = []
        r = 0
        while r < len(nodes):
            index, node = nodes[r]
            sibling = index ^ 1
            if r + 1 < len(nodes) and nodes[r + 1][0] == sibling:
                node = node_hash(node, nodes[r + 1][1])
                r += 1
            elif sibling < n:
                if used == len(proof):
                    return False
                node = node_hash(node, proof[used])
                used += 1
            parents.append((index >> 1, node))
            r += 1
        nodes = parents
        n = (n + 1) // 2
    return used == len(proof) and nodes[0][1] == root


def verify_proof(root: bytes, index: int, payload: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``payload`` sits at ``index`` under ``root`` (what ``MerkleProof.verify`` does
    with the leaf ``leaf_hash(index, payload)``)."""
    computed = leaf_hash(index, payload)
    for sibling in proof:
        computed = node_hash(computed, sibling)
    return computed == root


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
