// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DigestAgreement} from "./DigestAgreement.sol";

/// @title TolerantMajority
/// @notice Picks the digest a committee agrees on, as a pure function of the revealed digests:
/// the order in which they were revealed (which whoever sends a reveal chooses) plays no part.
/// @dev Support of a digest = the number of revealed digests it agrees with, itself included. The
/// winner has the highest support; ties go to the smallest total Hamming distance to the other
/// revealed digests (the most central), then to the smallest digest value, then to the lowest
/// committee position (identical digests only, so the result does not change). The reserved
/// invalid-input digest agrees only with itself and only when every revealed digest is that digest:
/// members who skip the work by claiming "invalid" agree with no one who did it.
/// Agreement is not transitive, so the winner's agreeing set can leave out a member that agrees
/// with a majority (two colluders can pick a winner at the edge of the honest cluster): such a
/// member is reported in `majorityMask`, and the oracle never slashes it.
library TolerantMajority {
    /// @notice Outcome of a vote.
    /// @param winner Committee position of the winning digest (meaningful when `support` > 0).
    /// @param support Number of revealed digests that agree with the winner's.
    /// @param agreeMask Bit p set iff position p revealed a digest that agrees with the winner's.
    /// @param majorityMask Bit p set iff position p revealed a digest that agrees with at least
    /// `quorum` revealed digests (itself included).
    struct Outcome {
        uint256 winner;
        uint256 support;
        uint256 agreeMask;
        uint256 majorityMask;
    }

    /// @notice The tolerant majority of the digests at the positions set in `revealedMask`.
    /// @param digests Digests by committee position; only positions in `revealedMask` are read.
    /// @param quorum Support that makes a majority (for `majorityMask`).
    function decide(
        bytes32[] memory digests,
        uint256 revealedMask,
        uint32 tolerance,
        bytes32 invalidDigest,
        uint256 quorum
    ) internal pure returns (Outcome memory outcome) {
        uint256 size = digests.length;
        if (_allEqual(digests, revealedMask)) {
            // The usual case, every member agrees bit for bit: no distances to compute.
            uint256 first;
            while (revealedMask & (1 << first) == 0) ++first;
            outcome.winner = first;
            outcome.support = _popCount(revealedMask);
            outcome.agreeMask = revealedMask;
            if (outcome.support >= quorum) outcome.majorityMask = revealedMask;
            return outcome;
        }
        bool allInvalid = true;
        for (uint256 p; p < size; ++p) {
            if (revealedMask & (1 << p) != 0 && digests[p] != invalidDigest) {
                allInvalid = false;
                break;
            }
        }
        uint256 bestDistance;
        for (uint256 i; i < size; ++i) {
            if (revealedMask & (1 << i) == 0) continue;
            uint256 support;
            uint256 totalDistance;
            for (uint256 j; j < size; ++j) {
                if (revealedMask & (1 << j) == 0) continue;
                if (_agree(digests[i], digests[j], tolerance, invalidDigest, allInvalid)) {
                    ++support;
                }
                totalDistance += DigestAgreement.distance(digests[i], digests[j]);
            }
            if (support >= quorum) outcome.majorityMask |= 1 << i;
            if (_better(support, totalDistance, digests[i], outcome, bestDistance, digests)) {
                outcome.winner = i;
                outcome.support = support;
                bestDistance = totalDistance;
            }
        }
        if (outcome.support == 0) return outcome;
        bytes32 result = digests[outcome.winner];
        for (uint256 p; p < size; ++p) {
            if (
                revealedMask & (1 << p) != 0
                    && _agree(result, digests[p], tolerance, invalidDigest, allInvalid)
            ) outcome.agreeMask |= 1 << p;
        }
    }

    /// @dev Whether a candidate beats the best so far (strictly: equal candidates keep the lower
    /// position, which holds the same digest).
    function _better(
        uint256 support,
        uint256 totalDistance,
        bytes32 digest,
        Outcome memory best,
        uint256 bestDistance,
        bytes32[] memory digests
    ) private pure returns (bool) {
        if (support != best.support) return support > best.support;
        if (totalDistance != bestDistance) return totalDistance < bestDistance;
        return uint256(digest) < uint256(digests[best.winner]);
    }

    /// @dev Whether every revealed digest is the same (and at least one is revealed).
    function _allEqual(bytes32[] memory digests, uint256 revealedMask)
        private
        pure
        returns (bool)
    {
        if (revealedMask == 0) return false;
        bytes32 seen;
        bool any;
        for (uint256 p; p < digests.length; ++p) {
            if (revealedMask & (1 << p) == 0) continue;
            if (any && digests[p] != seen) return false;
            seen = digests[p];
            any = true;
        }
        return true;
    }

    function _popCount(uint256 mask) private pure returns (uint256 count) {
        for (; mask != 0; mask &= mask - 1) ++count;
    }

    function _agree(bytes32 a, bytes32 b, uint32 tolerance, bytes32 invalidDigest, bool allInvalid)
        private
        pure
        returns (bool)
    {
        if (a == invalidDigest || b == invalidDigest) return allInvalid;
        return DigestAgreement.agree(a, b, tolerance);
    }
}
