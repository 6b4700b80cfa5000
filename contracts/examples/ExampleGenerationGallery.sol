// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

import {GenerationConsumerBase} from "../GenerationConsumerBase.sol";
import {IGenerationOracle} from "../interfaces/IGenerationOracle.sol";

/// @title ExampleImageGallery
/// @notice An example dApp: anyone pays for a picture of a prompt; the gallery keeps, per task,
/// who asked, the prompt input and the verified digest, which anyone can compare with the image
/// an operator serves.
contract ExampleImageGallery is GenerationConsumerBase, Ownable {
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
        bytes input;
    }

    /// @notice The model the gallery draws with.
    bytes32 public immutable modelId;
    /// @notice Gas the gallery asks the oracle to call it back with.
    uint32 public constant CALLBACK_GAS = 100_000;

    mapping(uint256 taskId => Entry) private _entries;

    event PictureRequested(uint256 indexed taskId, address indexed patron, bytes input);
    event PictureVerified(uint256 indexed taskId, bytes32 digest);
    event PictureFailed(uint256 indexed taskId, uint8 reason);
    event RefundsCollected(address indexed to, uint256 amount);

    /// @notice `msg.value` sent with no task to pay for.
    error NoFee();

    constructor(IGenerationOracle oracle_, bytes32 modelId_, address owner_)
        GenerationConsumerBase(oracle_)
        Ownable(owner_)
    {
        modelId = modelId_;
    }

    /// @notice Pays `msg.value` for a picture of `input` (canonical JSON of an image request),
    /// verified by `committeeSize` operators at the model's default tolerance.
    /// @dev Requirements: a fee; everything the oracle requires of a request.
    function requestPicture(bytes calldata input, uint8 committeeSize)
        external
        payable
        returns (uint256 taskId)
    {
        if (msg.value == 0) revert NoFee();
        taskId = _requestGeneration(
            modelId, input, committeeSize, type(uint32).max, CALLBACK_GAS, msg.value
        );
        _entries[taskId] = Entry({
            patron: msg.sender,
            status: EntryStatus.Pending,
            failureReason: 0,
            digest: 0,
            input: input
        });
        emit PictureRequested(taskId, msg.sender, input);
    }

    /// @notice The gallery entry of task `taskId`.
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
        emit PictureVerified(taskId, digest);
    }

    function _fail(uint256 taskId, uint8 reason) internal override {
        Entry storage stored = _entries[taskId];
        stored.status = EntryStatus.Failed;
        stored.failureReason = reason;
        emit PictureFailed(taskId, reason);
    }
}
