// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

import {GenerationConsumerBase} from "../GenerationConsumerBase.sol";
import {IGenerationOracle} from "../interfaces/IGenerationOracle.sol";

/// @title ExampleGenerationGallery
/// @notice An example dApp: anyone pays for a generation from any model the oracle serves (an
/// image, a completion); the gallery keeps, per task, who asked, the model, the input and the
/// verified digest, which anyone can compare with the output an operator serves.
contract ExampleGenerationGallery is GenerationConsumerBase, Ownable {
    enum EntryStatus {
        None,
        Pending,
        Verified,
        Failed
    }

    struct Entry {
        address patron;
        EntryStatus status;
        uint8 failureReason;
        bytes32 digest;
        bytes32 modelId;
        bytes input;
    }

    /// @notice Gas the gallery asks the oracle to call it back with.
    uint32 public constant CALLBACK_GAS = 100_000;
    /// @dev The oracle's USE_DEFAULT_TOLERANCE: verify at the model's registered default.
    uint32 private constant _USE_DEFAULT_TOLERANCE = type(uint32).max;

    mapping(uint256 taskId => Entry) private _entries;

    event GenerationRequested(
        uint256 indexed taskId, address indexed patron, bytes32 indexed modelId, bytes input
    );
    event GenerationVerified(uint256 indexed taskId, bytes32 digest);
    event GenerationFailed(uint256 indexed taskId, uint8 reason);
    event RefundsCollected(address indexed to, uint256 amount);

    /// @notice `msg.value` sent with no task to pay for.
    error NoFee();

    constructor(IGenerationOracle oracle_, address owner_)
        GenerationConsumerBase(oracle_)
        Ownable(owner_)
    {}

    /// @notice Pays `msg.value` for a generation of `input` (the canonical JSON request the
    /// model's kind expects) by model `modelId`, verified by `committeeSize` operators at the
    /// model's default tolerance.
    /// @dev Requirements: a fee; everything the oracle requires of a request (a registered,
    /// active model, a valid committee size, enough fee and operators).
    function requestGeneration(bytes32 modelId, bytes calldata input, uint8 committeeSize)
        external
        payable
        returns (uint256 taskId)
    {
        if (msg.value == 0) revert NoFee();
        taskId = _requestGeneration(
            modelId, input, committeeSize, _USE_DEFAULT_TOLERANCE, CALLBACK_GAS, msg.value
        );
        _entries[taskId] = Entry({
            patron: msg.sender,
            status: EntryStatus.Pending,
            failureReason: 0,
            digest: 0,
            modelId: modelId,
            input: input
        });
        emit GenerationRequested(taskId, msg.sender, modelId, input);
    }

    /// @notice The gallery entry of task `taskId` (status None for a task it never requested).
    function entry(uint256 taskId) external view returns (Entry memory) {
        return _entries[taskId];
    }

    /// @notice Claims fees the oracle refunded (failed tasks) and sends them to the owner.
    /// @dev Requirements: owner.
    function collectRefunds() external onlyOwner {
        oracle.claim();
        uint256 amount = address(this).balance;
        emit RefundsCollected(owner(), amount);
        Address.sendValue(payable(owner()), amount);
    }

    /// @notice Receives refunds claimed from the oracle.
    receive() external payable {}

    function _fulfill(uint256 taskId, bytes32 digest) internal override {
        Entry storage stored = _entries[taskId];
        stored.status = EntryStatus.Verified;
        stored.digest = digest;
        emit GenerationVerified(taskId, digest);
    }

    function _fail(uint256 taskId, uint8 reason) internal override {
        Entry storage stored = _entries[taskId];
        stored.status = EntryStatus.Failed;
        stored.failureReason = reason;
        emit GenerationFailed(taskId, reason);
    }
}
