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
    /// committees of `size`, with entropy keccak256(seed, round).
    function drawCounts(bytes32 seed, uint8 size, uint256 rounds)
        external
        view
        returns (uint256[] memory counts)
    {
        Globals memory globals = _globals;
        counts = new uint256[](uint256(globals.operatorCount) + 1);
        for (uint256 round; round < rounds; ++round) {
            bytes32 entropy = keccak256(abi.encode(seed, round));
            (uint256[] memory indices,) = _drawCommittee(entropy, size, globals);
            for (uint256 i; i < indices.length; ++i) {
                counts[indices[i]] += 1;
            }
        }
    }

    /// @notice One committee drawn with `entropy`, as the oracle would draw it now.
    function drawCommittee(bytes32 entropy, uint8 size)
        external
        view
        returns (uint256[] memory indices, address[] memory operators)
    {
        return _drawCommittee(entropy, size, _globals);
    }
}
