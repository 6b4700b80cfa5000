// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAuditedTaskRequests} from "./interfaces/IAuditedTaskRequests.sol";
import {IAuditHost} from "./interfaces/IAuditedTasks.sol";
import {IGenerationConsumer} from "./interfaces/IGenerationConsumer.sol";
import {IGenerationOracle} from "./interfaces/IGenerationOracle.sol";

/// @title GenerationConsumerBase
/// @notice Inherit to request verified generations and receive the outcome. The external callbacks
/// accept calls from the oracle and from its attached AuditedTasks only (the audited mode calls
/// back from there, with the same callbacks) and forward to the internal hooks {_fulfill} and
/// {_fail}, which the dApp implements. Audited task ids start at 2^128, so one id space serves
/// both modes.
/// @dev The oracle calls back with exactly the gas the request asked for; keep the hooks cheap and
/// non-reverting (a revert is recorded by the oracle, never retried). The oracle never sends ether
/// to a requester: the fee of a task that fails is credited to the requesting contract, which
/// pulls it with {_claimOracleCredit} (received by {receive}); a dApp that took the fee from a
/// user should record, in {_fail}, what it owes that user.
abstract contract GenerationConsumerBase is IGenerationConsumer {
    /// @notice The oracle this consumer trusts.
    IGenerationOracle public immutable oracle;

    /// @notice A callback came from an address other than the oracle or its AuditedTasks.
    error OnlyOracle(address caller, address oracle);
    /// @notice An audited request was made, but the oracle has no AuditedTasks attached.
    error AuditedModeNotAttached(address oracle);
    /// @notice The oracle address given to the constructor is not a contract.
    error OracleNotContract(address oracle);

    constructor(IGenerationOracle oracle_) {
        if (address(oracle_).code.length == 0) revert OracleNotContract(address(oracle_));
        oracle = oracle_;
    }

    /// @inheritdoc IGenerationConsumer
    /// @dev Requirements: called by the oracle or its AuditedTasks.
    function onGenerationVerified(uint256 taskId, bytes32 digest) external {
        _checkCallbackSender();
        _fulfill(taskId, digest);
    }

    /// @inheritdoc IGenerationConsumer
    /// @dev Requirements: called by the oracle or its AuditedTasks.
    function onGenerationFailed(uint256 taskId, uint8 reason) external {
        _checkCallbackSender();
        _fail(taskId, reason);
    }

    /// @notice Receives this consumer's credit, claimed from the oracle by {_claimOracleCredit}.
    /// @dev Requirements: sent by the oracle (stray ether could not be attributed to anyone).
    receive() external payable virtual {
        if (msg.sender != address(oracle)) revert OnlyOracle(msg.sender, address(oracle));
    }

    /// @dev Claims this contract's whole credit at the oracle (refunded fees of failed tasks) into
    /// its balance and returns the amount received; 0, without a call to claim, if there is none.
    /// The oracle pays by a call to {receive}, so an override of it must accept the oracle.
    function _claimOracleCredit() internal returns (uint256 amount) {
        if (oracle.creditOf(address(this)) == 0) return 0;
        uint256 before = address(this).balance;
        oracle.claim();
        return address(this).balance - before;
    }

    /// @dev Sends a request paying `fee`; see IGenerationOracle.requestGeneration.
    function _requestGeneration(
        bytes32 modelId,
        bytes memory input,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit,
        uint256 fee
    ) internal returns (uint256 taskId) {
        return oracle.requestGeneration{value: fee}(
            modelId, input, committeeSize, tolerance, callbackGasLimit
        );
    }

    /// @dev Sends an audited request paying `fee`: one executor and `auditors` (2 or 4) auditors
    /// at about one generation's compute; see AuditedTasks.requestAudited. Its refund, if it
    /// fails, is credited at the oracle like a replicated task's ({_claimOracleCredit}).
    function _requestAuditedGeneration(
        bytes32 modelId,
        bytes memory input,
        uint8 auditors,
        uint32 tolerance,
        uint32 callbackGasLimit,
        uint256 fee
    ) internal returns (uint256 taskId) {
        // The fee goes to the oracle's attached AuditedTasks (see contracts/SLITHER.md).
        // slither-disable-next-line arbitrary-send-eth
        return _auditedTasks().requestAudited{value: fee}(
            modelId, input, auditors, tolerance, callbackGasLimit
        );
    }

    /// @dev The oracle's attached AuditedTasks (attached once, so it never changes once set).
    function _auditedTasks() internal view returns (IAuditedTaskRequests audited) {
        audited = IAuditedTaskRequests(IAuditHost(address(oracle)).auditedTasks());
        if (address(audited) == address(0)) revert AuditedModeNotAttached(address(oracle));
    }

    /// @dev Called once when task `taskId` resolved to `digest`.
    function _fulfill(uint256 taskId, bytes32 digest) internal virtual;

    /// @dev Called once when task `taskId` failed (an IGenerationOracle.FailureReason code). For
    /// every reason but InvalidInput (3: the verifiers were paid) the fee less the callback part
    /// (callbackGasLimit * config().callbackGasPrice, paid to whoever resolved) is credited back.
    function _fail(uint256 taskId, uint8 reason) internal virtual;

    /// @dev The oracle, or its attached AuditedTasks (read only for a caller other than the
    /// oracle: a replicated callback costs no extra call).
    function _checkCallbackSender() private view {
        if (msg.sender == address(oracle)) return;
        if (msg.sender != IAuditHost(address(oracle)).auditedTasks()) {
            revert OnlyOracle(msg.sender, address(oracle));
        }
    }
}
