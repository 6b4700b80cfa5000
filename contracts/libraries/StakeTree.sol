// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title StakeTree
/// @notice A Fenwick (binary indexed) tree of 64-bit operator weights, indexed 1..count, that
/// supports appending an operator, changing a weight, and drawing an index with probability
/// proportional to its weight, each in O(log count) storage reads or writes.
/// @dev Node i holds the sum of weights (i - lowbit(i), i]. Four nodes share a storage word
/// (node i in word i / 4, lane i % 4), so the last two levels of a descent usually read a word
/// already warm. Every node sum is at most the total weight, which callers keep below 2^64, so a
/// lane never overflows into its neighbour. Drawing *without replacement* writes nothing: the
/// caller passes the indices and weights drawn so far and the descent subtracts them, in memory,
/// from every node that covers them.
library StakeTree {
    uint256 private constant LANE_BITS = 64;
    uint256 private constant LANE_MASK = type(uint64).max;

    struct Tree {
        mapping(uint256 word => uint256 lanes) words;
    }

    /// @notice Node `index`'s sum.
    function node(Tree storage tree, uint256 index) internal view returns (uint256) {
        return (tree.words[index >> 2] >> ((index & 3) * LANE_BITS)) & LANE_MASK;
    }

    /// @notice Adds leaf `index` (which must equal the new leaf count) with `weight`.
    function append(Tree storage tree, uint256 index, uint256 weight) internal {
        uint256 sum = weight;
        uint256 lowest = index - (index & (~index + 1));
        for (uint256 child = index - 1; child > lowest; child -= child & (~child + 1)) {
            sum += node(tree, child);
        }
        tree.words[index >> 2] |= sum << ((index & 3) * LANE_BITS);
    }

    /// @notice Increases the weight of leaf `index` by `amount`; `count` is the number of leaves.
    function increase(Tree storage tree, uint256 count, uint256 index, uint256 amount) internal {
        for (uint256 i = index; i <= count; i += i & (~i + 1)) {
            tree.words[i >> 2] += amount << ((i & 3) * LANE_BITS);
        }
    }

    /// @notice Decreases the weight of leaf `index` by `amount`; `count` is the number of leaves.
    function decrease(Tree storage tree, uint256 count, uint256 index, uint256 amount) internal {
        for (uint256 i = index; i <= count; i += i & (~i + 1)) {
            tree.words[i >> 2] -= amount << ((i & 3) * LANE_BITS);
        }
    }

    /// @notice The largest power of two not above `count` (`count` > 0): the descent's first step.
    function topStep(uint256 count) internal pure returns (uint256) {
        return 1 << Math.log2(count);
    }

    /// @notice The leaf whose cumulative weight interval contains `target`, ignoring the first
    /// `drawnCount` leaves of `drawnIndices` (whose weights are in `drawnWeights`).
    /// @dev `target` must be below the total weight minus the drawn weights; then the leaf found
    /// has a positive weight and is not among the drawn ones.
    function find(
        Tree storage tree,
        uint256 count,
        uint256 firstStep,
        uint256 target,
        uint256[] memory drawnIndices,
        uint256[] memory drawnWeights,
        uint256 drawnCount
    ) internal view returns (uint256) {
        uint256 position;
        for (uint256 step = firstStep; step != 0; step >>= 1) {
            uint256 next = position + step;
            if (next > count) continue;
            uint256 sum = node(tree, next);
            // Node `next` covers leaves (position, next]: remove the weights already drawn there.
            for (uint256 d; d < drawnCount; ++d) {
                uint256 drawn = drawnIndices[d];
                if (drawn > position && drawn <= next) sum -= drawnWeights[d];
            }
            if (sum <= target) {
                position = next;
                target -= sum;
            }
        }
        return position + 1;
    }
}
