// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ITrainingConsumer, ITrainingTasks} from "../interfaces/ITrainingTasks.sol";

/// @title TrainingConsumer
/// @notice Test-only: requests training and records, reverts in, or burns all the gas of its
/// callbacks (`mode` 0, 1, 2).
contract TrainingConsumer is ITrainingConsumer {
    ITrainingTasks public immutable training;
    uint8 public immutable mode;
    uint256 public completedCount;
    uint256 public failedCount;
    uint256 public lastTaskId;
    bytes32 public lastModelId;
    bytes32 public lastWeights;
    uint8 public lastReason;

    error AlwaysReverts();

    constructor(ITrainingTasks training_, uint8 mode_) {
        training = training_;
        mode = mode_;
    }

    function request(ITrainingTasks.TrainingRequest calldata request_, bytes calldata spec)
        external
        payable
        returns (uint256)
    {
        return training.requestTraining{value: msg.value}(request_, spec);
    }

    function onTrainingCompleted(uint256 taskId, bytes32 modelId, bytes32 weightsSha256)
        external
    {
        _misbehave();
        completedCount += 1;
        lastTaskId = taskId;
        lastModelId = modelId;
        lastWeights = weightsSha256;
    }

    function onTrainingFailed(uint256 taskId, uint8 reason) external {
        _misbehave();
        failedCount += 1;
        lastTaskId = taskId;
        lastReason = reason;
    }

    function _misbehave() private {
        if (mode == 1) revert AlwaysReverts();
        if (mode == 2) {
            while (true) {
                completedCount += 1;
            }
        }
    }
}
