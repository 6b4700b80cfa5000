// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {GenerationOracle} from "../GenerationOracle.sol";
import {IOracleTypes} from "../interfaces/IOracleTypes.sol";

/// @title GrindingRequester
/// @notice Test-only attacker: requests a generation and, in the same transaction, tries to read
/// the committee it got, reverting (to retry later) unless a chosen operator is on it. Against an
/// oracle that draws at request time this grinds for a friendly committee; against one that draws
/// from the request block's hash it sees nothing.
contract GrindingRequester {
    GenerationOracle public immutable oracle;

    uint256 public lastTaskId;
    uint256 public lastCommitteeLength;
    bytes32 public lastEntropy;
    IOracleTypes.TaskStatus public lastStatus;
    IOracleTypes.Phase public lastPhase;

    error NotMyCommittee(uint256 taskId);

    constructor(GenerationOracle oracle_) {
        oracle = oracle_;
    }

    /// @notice Requests, then reads the committee in the same transaction; with `wanted` nonzero,
    /// reverts unless `wanted` is on the committee (the grinding loop's accept test).
    function requestAndPeek(
        bytes32 modelId,
        bytes calldata input,
        uint8 committeeSize,
        address wanted
    ) external payable returns (uint256 taskId) {
        taskId = oracle.requestGeneration{value: msg.value}(
            modelId, input, committeeSize, oracle.USE_DEFAULT_TOLERANCE(), 0
        );
        (address[] memory committee, bytes32 entropy) = oracle.committeeOf(taskId);
        lastTaskId = taskId;
        lastCommitteeLength = committee.length;
        lastEntropy = entropy;
        lastStatus = oracle.getTask(taskId).status;
        lastPhase = oracle.taskPhase(taskId);
        if (wanted != address(0)) {
            for (uint256 i; i < committee.length; ++i) {
                if (committee[i] == wanted) return taskId;
            }
            revert NotMyCommittee(taskId);
        }
    }

    receive() external payable {}
}
