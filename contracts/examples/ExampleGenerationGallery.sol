// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {GenerationConsumerBase} from "../GenerationConsumerBase.sol";
import {IGenerationOracle} from "../interfaces/IGenerationOracle.sol";

/// @title ExampleGenerationGallery
/// @notice An example dApp: anyone pays for a generation from any model the oracle serves (an
/// image, a completion), verified by a committee or audited (one executor, a few auditors); the gallery keeps, per task, who asked, the model, the input and the
/// verified digest, which anyone can compare with the output an operator serves. A patron whose
/// task fails gets its fee back (less the callback part, which paid whoever resolved the task):
/// the gallery records the refund when the oracle reports the failure, and the patron pulls it
/// with {withdrawRefund}. The gallery keeps nothing: its owner has no claim on any funds.
contract ExampleGenerationGallery is GenerationConsumerBase, Ownable, ReentrancyGuardTransient {
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
    /// @notice The smallest committee the gallery requests: one member verifies nothing, so a
    /// generation is checked by at least three independent operators (the oracle's minimum too).
    uint8 public constant MIN_COMMITTEE_SIZE = 3;
    /// @dev The oracle's USE_DEFAULT_TOLERANCE: verify at the model's registered default.
    uint32 private constant _USE_DEFAULT_TOLERANCE = type(uint32).max;
    /// @dev FailureReason.InvalidInput: the task resolved (verifiers paid), nothing is refunded.
    uint8 private constant _REASON_INVALID_INPUT = 3;

    /// @notice The part of every fee that pays the oracle's callback (CALLBACK_GAS times the
    /// oracle's callbackGasPrice, fixed at its deployment); it is not refunded when a task fails.
    uint256 public immutable callbackFee;

    mapping(uint256 taskId => Entry) private _entries;
    mapping(uint256 taskId => uint256) private _fees;
    mapping(address patron => uint256) private _refunds;

    event GenerationRequested(
        uint256 indexed taskId, address indexed patron, bytes32 indexed modelId, bytes input
    );
    event GenerationVerified(uint256 indexed taskId, bytes32 digest);
    event GenerationFailed(uint256 indexed taskId, uint8 reason);
    /// @notice The fee of failed task `taskId` (less `callbackFee`) is owed back to `patron`.
    event RefundRecorded(uint256 indexed taskId, address indexed patron, uint256 amount);
    event RefundWithdrawn(address indexed patron, uint256 amount);

    /// @notice `msg.value` sent with no task to pay for.
    error NoFee();
    /// @notice A committee smaller than MIN_COMMITTEE_SIZE was asked for.
    error CommitteeTooSmall(uint8 committeeSize, uint8 minimum);
    /// @notice The caller has no refund to withdraw.
    error NoRefund(address patron);

    /// @param owner_ The gallery's owner (kept for the deployment interface; it holds no funds
    /// and no power over refunds).
    constructor(IGenerationOracle oracle_, address owner_)
        GenerationConsumerBase(oracle_)
        Ownable(owner_)
    {
        callbackFee = uint256(CALLBACK_GAS) * oracle_.config().callbackGasPrice;
    }

    /// @notice Pays `msg.value` for a generation of `input` (the canonical JSON request the
    /// model's kind expects) by model `modelId`, verified by `committeeSize` operators at the
    /// model's default tolerance. If the task fails, `msg.value - callbackFee` is refunded to the
    /// caller (see {withdrawRefund}).
    /// @dev Requirements: a fee; `committeeSize` >= MIN_COMMITTEE_SIZE; everything the oracle
    /// requires of a request (a registered, active model, an odd committee size within its
    /// bound, enough fee and operators).
    function requestGeneration(bytes32 modelId, bytes calldata input, uint8 committeeSize)
        external
        payable
        returns (uint256 taskId)
    {
        if (msg.value == 0) revert NoFee();
        if (committeeSize < MIN_COMMITTEE_SIZE) {
            revert CommitteeTooSmall(committeeSize, MIN_COMMITTEE_SIZE);
        }
        taskId = _requestGeneration(
            modelId, input, committeeSize, _USE_DEFAULT_TOLERANCE, CALLBACK_GAS, msg.value
        );
        _record(taskId, modelId, input);
    }

    /// @notice Pays `msg.value` for an audited generation of `input` by model `modelId`: one
    /// executor generates and `auditors` (2 or 4) auditors recompute a challenged part, at about
    /// one generation's compute instead of a committee's. Refunds as {requestGeneration}.
    /// @dev Requirements: a fee; everything AuditedTasks.requestAudited requires (the oracle has
    /// AuditedTasks attached, 2 or 4 auditors, enough fee and operators).
    function requestAuditedGeneration(bytes32 modelId, bytes calldata input, uint8 auditors)
        external
        payable
        returns (uint256 taskId)
    {
        if (msg.value == 0) revert NoFee();
        taskId = _requestAuditedGeneration(
            modelId, input, auditors, _USE_DEFAULT_TOLERANCE, CALLBACK_GAS, msg.value
        );
        _record(taskId, modelId, input);
    }

    /// @notice Sends the caller every refund recorded for it (its failed tasks' fees, less
    /// `callbackFee` each), claiming the gallery's credit from the oracle first if needed.
    /// @dev Requirements: a positive refund. Pull pattern: the balance is zeroed before the
    /// transfer, under a reentrancy lock.
    function withdrawRefund() external nonReentrant returns (uint256 amount) {
        amount = _refunds[msg.sender];
        if (amount == 0) revert NoRefund(msg.sender);
        _refunds[msg.sender] = 0;
        emit RefundWithdrawn(msg.sender, amount);
        if (address(this).balance < amount) _claimOracleCredit();
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @notice The gallery entry of task `taskId` (status None for a task it never requested).
    function entry(uint256 taskId) external view returns (Entry memory) {
        return _entries[taskId];
    }

    /// @notice The fee the patron of task `taskId` paid (0 for a task the gallery never requested).
    function feeOf(uint256 taskId) external view returns (uint256) {
        return _fees[taskId];
    }

    /// @notice What `patron` can withdraw now with {withdrawRefund}.
    function refundOf(address patron) external view returns (uint256) {
        return _refunds[patron];
    }

    /// @dev A pending entry for a task just requested and paid by the caller.
    function _record(uint256 taskId, bytes32 modelId, bytes calldata input) private {
        _entries[taskId] = Entry({
            patron: msg.sender,
            status: EntryStatus.Pending,
            failureReason: 0,
            digest: 0,
            modelId: modelId,
            input: input
        });
        _fees[taskId] = msg.value;
        emit GenerationRequested(taskId, msg.sender, modelId, input);
    }

    function _fulfill(uint256 taskId, bytes32 digest) internal override {
        Entry storage stored = _entries[taskId];
        stored.status = EntryStatus.Verified;
        stored.digest = digest;
        emit GenerationVerified(taskId, digest);
    }

    /// @dev Records the refund the oracle credited for this task to its patron: the task's fee
    /// less `callbackFee`, unless the input was invalid (the verifiers were paid, nothing came back).
    function _fail(uint256 taskId, uint8 reason) internal override {
        Entry storage stored = _entries[taskId];
        stored.status = EntryStatus.Failed;
        stored.failureReason = reason;
        emit GenerationFailed(taskId, reason);
        if (reason == _REASON_INVALID_INPUT) return;
        uint256 refund = _fees[taskId] - callbackFee; // the oracle required fee >= callbackFee
        if (refund == 0) return;
        address patron = stored.patron;
        _refunds[patron] += refund;
        emit RefundRecorded(taskId, patron, refund);
    }
}
