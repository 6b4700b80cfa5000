// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ConsumerCallback
/// @notice The gas-limited call a task contract makes to its requester when a task ends (the
/// oracle, AuditedTasks and TrainingTasks), in one place.
/// @dev A caller first checks {hasGasFor} (and reverts with its own error if not), then calls
/// {callWithGas}: the consumer gets exactly `gasLimit`, and its failure is the caller's to record.
library ConsumerCallback {
    /// @notice Gas kept back for the work after the callback (the log of its outcome).
    uint256 internal constant RESERVE = 10_000;

    /// @notice Whether the call can forward `gasLimit`: EIP-150 passes on at most 63/64 of what
    /// is left, so a sender could otherwise make the consumer fail by sending too little gas.
    /// Also returns the gas left, for the caller's error.
    function hasGasFor(uint256 gasLimit) internal view returns (bool enough, uint256 available) {
        available = gasleft();
        enough = available >= RESERVE && available - RESERVE - (available - RESERVE) / 64 >= gasLimit;
    }

    /// @notice Calls `consumer` with `data` and exactly `gasLimit` gas. A low-level call: a revert
    /// or out-of-gas in the consumer only makes `success` false, and its return data is never
    /// copied, so a huge one costs nothing.
    function callWithGas(address consumer, uint256 gasLimit, bytes memory data)
        internal
        returns (bool success)
    {
        assembly ("memory-safe") {
            success := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
    }
}
