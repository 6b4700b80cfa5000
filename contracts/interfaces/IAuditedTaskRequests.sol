// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IAuditedTaskRequests
/// @notice What a consumer calls on the oracle's attached AuditedTasks (the audited mode: one
/// executor generates, `auditors` auditors recompute a challenged part). Its callbacks are the
/// oracle's IGenerationConsumer ones, sent from the AuditedTasks address.
interface IAuditedTaskRequests {
    /// @notice Requests an audited generation; see AuditedTasks for the full contract.
    function requestAudited(
        bytes32 modelId,
        bytes calldata input,
        uint8 auditors,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256 taskId);

    /// @notice The smallest fee an audited request with `auditors` and this callback gas pays.
    function requiredFee(uint8 auditors, uint32 callbackGasLimit) external view returns (uint256);
}
