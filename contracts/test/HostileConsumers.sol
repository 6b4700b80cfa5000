// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AuditedTasks} from "../AuditedTasks.sol";
import {IGenerationConsumer} from "../interfaces/IGenerationConsumer.sol";
import {IGenerationOracle} from "../interfaces/IGenerationOracle.sol";

/// @title RequesterBase
/// @notice Test-only: a contract requester whose callback behaviour each subclass chooses.
abstract contract RequesterBase is IGenerationConsumer {
    IGenerationOracle public immutable oracle;
    uint256 public callbacks;

    constructor(IGenerationOracle oracle_) {
        oracle = oracle_;
    }

    function request(
        bytes32 modelId,
        bytes calldata input,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256) {
        return oracle.requestGeneration{value: msg.value}(
            modelId, input, committeeSize, tolerance, callbackGasLimit
        );
    }

    function claimRefund() external {
        oracle.claim();
    }

    receive() external payable {}
}

/// @notice Reverts in every callback.
contract RevertingConsumer is RequesterBase {
    error AlwaysReverts();

    constructor(IGenerationOracle oracle_) RequesterBase(oracle_) {}

    function onGenerationVerified(uint256, bytes32) external pure {
        revert AlwaysReverts();
    }

    function onGenerationFailed(uint256, uint8) external pure {
        revert AlwaysReverts();
    }
}

/// @notice Burns all the gas it is given.
contract GasBurningConsumer is RequesterBase {
    constructor(IGenerationOracle oracle_) RequesterBase(oracle_) {}

    function onGenerationVerified(uint256, bytes32) external {
        _burn();
    }

    function onGenerationFailed(uint256, uint8) external {
        _burn();
    }

    function _burn() private {
        while (true) {
            callbacks += 1;
        }
    }
}

/// @notice Tries to re-enter the oracle (claim, resolve) from the callback, and to return a huge
/// return-data blob.
contract ReenteringConsumer is RequesterBase {
    bool public reentered;

    constructor(IGenerationOracle oracle_) RequesterBase(oracle_) {}

    function onGenerationVerified(uint256 taskId, bytes32) external {
        _reenter(taskId);
    }

    function onGenerationFailed(uint256 taskId, uint8) external {
        _reenter(taskId);
    }

    function _reenter(uint256 taskId) private {
        callbacks += 1;
        // Each of these reverts on the reentrancy lock; the revert unwinds this callback too.
        oracle.claim();
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok,) = address(oracle).call(abi.encodeWithSignature("resolve(uint256)", taskId));
        reentered = ok;
    }
}

/// @notice Records the callbacks it gets, to check what the oracle delivers.
contract RecordingConsumer is RequesterBase {
    uint256 public lastTaskId;
    bytes32 public lastDigest;
    uint8 public lastReason;
    uint256 public gasAtEntry;

    constructor(IGenerationOracle oracle_) RequesterBase(oracle_) {}

    function onGenerationVerified(uint256 taskId, bytes32 digest) external {
        gasAtEntry = gasleft();
        callbacks += 1;
        lastTaskId = taskId;
        lastDigest = digest;
    }

    function onGenerationFailed(uint256 taskId, uint8 reason) external {
        gasAtEntry = gasleft();
        callbacks += 1;
        lastTaskId = taskId;
        lastReason = reason;
    }
}

/// @notice Test-only: requests audited tasks and records the callbacks of its AuditedTasks.
contract AuditedRecordingConsumer is IGenerationConsumer {
    AuditedTasks public immutable audited;
    uint256 public verifiedCount;
    uint256 public failedCount;
    uint256 public lastTaskId;
    bytes32 public lastDigest;
    uint8 public lastReason;

    error NotAuditedTasks(address caller);

    constructor(AuditedTasks audited_) {
        audited = audited_;
    }

    function request(
        bytes32 modelId,
        bytes calldata input,
        uint8 auditors,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256) {
        return audited.requestAudited{value: msg.value}(
            modelId, input, auditors, tolerance, callbackGasLimit
        );
    }

    function onGenerationVerified(uint256 taskId, bytes32 digest) external {
        if (msg.sender != address(audited)) revert NotAuditedTasks(msg.sender);
        ++verifiedCount;
        lastTaskId = taskId;
        lastDigest = digest;
    }

    function onGenerationFailed(uint256 taskId, uint8 reason) external {
        if (msg.sender != address(audited)) revert NotAuditedTasks(msg.sender);
        ++failedCount;
        lastTaskId = taskId;
        lastReason = reason;
    }
}
