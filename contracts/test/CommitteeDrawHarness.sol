// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {GenerationOracle} from "../GenerationOracle.sol";

/// @title CommitteeDrawHarness
/// @notice Test-only: the real oracle plus a view that runs its committee draw many times, so a
/// statistical test can check selection frequencies against stakes without sending a transaction
/// per draw.
contract CommitteeDrawHarness is GenerationOracle {
    constructor(address initialOwner, Config memory cfg) GenerationOracle(initialOwner, cfg) {}

    /// @notice How often each operator index (1-based; slot 0 unused) was drawn in `rounds`
    /// committees of `size` for the model at `modelIndex`, with entropy keccak256(seed, round).
    function drawCounts(
        uint256 modelIndex,
        bytes32 seed,
        uint8 size,
        uint256 rounds,
        uint256 indices
    ) external view returns (uint256[] memory counts) {
        counts = new uint256[](indices + 1);
        for (uint256 round; round < rounds; ++round) {
            bytes32 entropy = keccak256(abi.encode(seed, round));
            (uint256[] memory drawn,) = _drawFromPool(modelIndex, entropy, size);
            for (uint256 i; i < drawn.length; ++i) {
                counts[drawn[i]] += 1;
            }
        }
    }
}
