// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IGenerationConsumer
/// @notice Implemented by contracts that request generations from a GenerationOracle and want to be
/// called back when the task ends. The oracle calls exactly one of the two functions, once per task,
/// with exactly the gas the requester asked for; a revert here is recorded, never propagated.
interface IGenerationConsumer {
    /// @notice The committee agreed on `digest` for task `taskId`.
    function onGenerationVerified(uint256 taskId, bytes32 digest) external;

    /// @notice Task `taskId` ended without a verified digest; the fee was credited back to the
    /// requester (for `InvalidInput` the verifiers were paid instead).
    /// @param reason 1 = NoConsensus, 2 = Expired, 3 = InvalidInput (see IGenerationOracle.FailureReason).
    function onGenerationFailed(uint256 taskId, uint8 reason) external;
}
