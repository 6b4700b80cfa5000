// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title DigestAgreement
/// @notice Per-lane Hamming agreement of 256-bit locality-sensitive digests.
/// @dev A digest is four 64-bit lanes, lane 0 in the most significant bits; a tolerance is four
/// 8-bit thresholds, lane 0 in the most significant byte. The popcount is a branch-free SWAR count
/// over all four lanes at once, so a comparison costs a few dozen gas.
library DigestAgreement {
    uint256 private constant M1 = 0x5555555555555555555555555555555555555555555555555555555555555555;
    uint256 private constant M2 = 0x3333333333333333333333333333333333333333333333333333333333333333;
    uint256 private constant M4 = 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
    uint256 private constant LANE_MASK = 0xffffffffffffffff;
    /// @dev Multiplying a lane of per-byte counts by this sums the eight bytes into the top byte.
    uint256 private constant BYTE_SUM = 0x0101010101010101;

    /// @notice Number of differing bits in each lane of `a` and `b`, lane 0 first.
    function laneDistances(bytes32 a, bytes32 b) internal pure returns (uint256[4] memory distances) {
        uint256 perByte = _bytePopCounts(uint256(a ^ b));
        for (uint256 lane; lane < 4; ++lane) {
            distances[lane] = _laneSum(perByte, lane);
        }
    }

    /// @notice Number of differing bits of `a` and `b` over all four lanes.
    function distance(bytes32 a, bytes32 b) internal pure returns (uint256) {
        uint256 perByte = _bytePopCounts(uint256(a ^ b));
        uint256 total;
        for (uint256 lane; lane < 4; ++lane) {
            total += _laneSum(perByte, lane);
        }
        return total;
    }

    /// @notice True iff every lane of `a` and `b` differs in at most that lane's threshold bits.
    function agree(bytes32 a, bytes32 b, uint32 tolerance) internal pure returns (bool) {
        uint256 diff = uint256(a ^ b);
        if (diff == 0) return true;
        uint256 perByte = _bytePopCounts(diff);
        for (uint256 lane; lane < 4; ++lane) {
            uint256 threshold = (uint256(tolerance) >> (8 * (3 - lane))) & 0xff;
            if (_laneSum(perByte, lane) > threshold) return false;
        }
        return true;
    }

    /// @notice True iff every lane threshold of `tolerance` is at most that of `bound`.
    function withinTolerance(uint32 tolerance, uint32 bound) internal pure returns (bool) {
        for (uint256 lane; lane < 4; ++lane) {
            uint256 shift = 8 * lane;
            if ((tolerance >> shift) & 0xff > (bound >> shift) & 0xff) return false;
        }
        return true;
    }

    /// @dev Each byte of the result holds the popcount of the same byte of `x`.
    function _bytePopCounts(uint256 x) private pure returns (uint256) {
        unchecked {
            x = x - ((x >> 1) & M1);
            x = (x & M2) + ((x >> 2) & M2);
            return (x + (x >> 4)) & M4;
        }
    }

    /// @dev Sum of the eight byte counts of `lane` (0 = most significant 64 bits); at most 64.
    function _laneSum(uint256 perByte, uint256 lane) private pure returns (uint256) {
        unchecked {
            uint256 laneBytes = (perByte >> (64 * (3 - lane))) & LANE_MASK;
            return ((laneBytes * BYTE_SUM) >> 56) & 0xff;
        }
    }
}
