// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOracleTypes} from "./IOracleTypes.sol";

/// @title ITrainingDraws
/// @notice What the oracle calls on its attached TrainingTasks before any draw weight changes.
interface ITrainingDraws {
    /// @notice Completes every training committee draw whose randomness exists, so that no draw
    /// ever sees a weight changed after its randomness became known.
    /// @dev Requirements: called by the oracle. Never reverts for a draw that cannot be made.
    function drawReadyTraining() external;
}

/// @title ITrainingHost
/// @notice What the oracle's host (its OperatorDesk, behind its fallback) adds for the attached
/// TrainingTasks, beside the IAuditHost functions it serves to every attached module (terms,
/// draws, previews, final settlements). One attachment slot per module kind.
interface ITrainingHost {
    /// @notice Attaches the TrainingTasks contract, once.
    /// @dev Requirements: called by the owner of the oracle's model registry; none attached yet;
    /// `training` is a contract.
    function attachTrainingTasks(address training) external;

    /// @notice The attached TrainingTasks contract (zero if none).
    function trainingTasks() external view returns (address);

    /// @notice A training request's model: registered, active, served by at least `members`
    /// drawable operators (it need not be auditable, unlike IAuditHost.auditTerms); its index.
    function trainingTerms(bytes32 modelId, uint256 members)
        external
        view
        returns (uint16 modelIndex);

    /// @notice What the oracle does at the end of a training round, in one call.
    /// @param members Operator indices, 20 bits each, `size` of them; a zero index is skipped.
    /// @param paidMask Positions that share the slashed stake equally.
    /// @param slashBps Basis points of its stake each position loses (0: none).
    /// @param fees Fee credited to each position.
    /// @param requester Credited `refund`.
    /// @param resolver Credited `resolverFee` (the callback gas fee).
    struct RoundSettlement {
        uint256 members;
        uint256 size;
        uint256 paidMask;
        uint256[] slashBps;
        uint256[] fees;
        address requester;
        uint256 refund;
        address resolver;
        uint256 resolverFee;
    }

    /// @notice Draws a committee of `size` operators of the model's pool by stake weight,
    /// without replacement, and opens an assignment for each; empty arrays if too few can be
    /// drawn.
    /// @dev Requirements: called by an attached module, which has completed every draw whose
    /// randomness exists before any weight changed.
    function trainingDraw(uint256 modelIndex, bytes32 entropy, uint256 size)
        external
        returns (uint256[] memory indices, address[] memory operators);

    /// @notice Settles one round of a multi-round task: slashes and credits; `close` (the last
    /// round, or a failed task) also ends every member's assignment, otherwise they stay open
    /// (the members still owe the next rounds).
    /// @dev Requirements: called by an attached module, which has completed every draw whose
    /// randomness exists (frozen weights); `msg.value` covers the fees, refund and resolver fee.
    function settleRound(RoundSettlement calldata settlement, bool close)
        external
        payable
        returns (address[] memory operators, uint256[] memory slashed, uint256 slashShare);
}

/// @title ITrainingConsumer
/// @notice Implemented by contracts that request training and want to be called back when the
/// task ends. Exactly one of the two is called, once per task, with exactly the requested gas; a
/// revert or running out of gas is recorded ({ITrainingTasks.TrainingCallbackCompleted}), never
/// propagated.
interface ITrainingConsumer {
    /// @notice The committee trained every round; the final canonical checkpoint is registered
    /// in the oracle's model registry as `modelId` (sha256 of its manifest).
    function onTrainingCompleted(uint256 taskId, bytes32 modelId, bytes32 weightsSha256) external;

    /// @notice The task ended without a trained model (`reason`: ITrainingTasks.TrainingFailure);
    /// the fee of the rounds not trained was credited back to the requester.
    function onTrainingFailed(uint256 taskId, uint8 reason) external;
}

/// @title ITrainingTasks
/// @notice Types, events, errors and functions of the training task: a committee fine-tunes a
/// registered model in R synchronised rounds of S steps (see TrainingTasks).
///
/// Flow for a node (member at committee position p):
/// 1. `TrainingRequested` (spec JSON, data hash, seed, R, S, committee size): nothing is drawn
///    in the request. From the next block `membersOf(taskId)` names the committee (the draw's
///    result, weights frozen); anyone may `drawTraining()`; the first commit also draws.
/// 2. Round r (0-based, phase `Train` until `commitDeadline`): train S steps from the round's
///    start checkpoint (round 0: the base model's weights; round r > 0: the canonical checkpoint
///    of round r - 1, fetched from its member by sha256), compute the round digest and the
///    checkpoint's sha256, and `commitRound(taskId, r, p, commitment)` with
///    `keccak256(abi.encode(chainid, trainingTasks, taskId, r, member, digest, checkpointSha256,
///    salt))`.
/// 3. Phase `Reveal` (every member committed, or the commit deadline passed, until
///    `revealDeadline`): `revealRound(taskId, r, openings)` (anyone may send a member's opening).
///    The reveal that completes the set resolves, if it is in a later block than the one that
///    sealed the commitments; otherwise (or after the reveal deadline) `resolveRound(taskId)`.
/// 4. `RoundResolved` names the canonical checkpoint (sha256 and member) and the next round's
///    deadlines (`RoundStarted`); the canonical member serves the checkpoint by sha256 from now.
///    After the last round, `TrainingCompleted` gives the registered model id and its manifest.
interface ITrainingTasks {
    /// @dev `Drawing`: committee not drawn yet. `Training`: rounds in progress. `Completed`: the
    /// final checkpoint is a registered model. `Failed`: ended early, the rest refunded.
    enum TrainingStatus {
        None,
        Drawing,
        Training,
        Completed,
        Failed
    }

    /// @dev A pure function of the task's state and the block time. `Train`: members train and
    /// commit. `Reveal`: commitments sealed (all in, or the deadline passed), members reveal.
    /// `Resolvable`: {resolveRound} ends the round (or the task).
    enum TrainingPhase {
        None,
        Draw,
        Train,
        Reveal,
        Resolvable,
        Finished
    }

    /// @dev Why a training task ended without a model.
    /// `NotDrawn`: no committee could be drawn (too few servers, stale randomness, too late).
    /// `Expired`: fewer than a majority committed in a round.
    /// `NoConsensus`: fewer than a majority revealed, or no tolerant majority.
    /// `InvalidRequest`: a majority revealed INVALID_REQUEST_DIGEST (spec, data or base model
    /// unusable) and nothing else was revealed.
    /// `CheckpointWithheld`: a majority revealed CHECKPOINT_WITHHELD_DIGEST: the previous
    /// round's canonical member did not serve its checkpoint.
    enum TrainingFailure {
        None,
        NotDrawn,
        Expired,
        NoConsensus,
        InvalidRequest,
        CheckpointWithheld
    }

    /// @dev Why a member was slashed in a round.
    enum TrainingSlashReason {
        None,
        NotCommitted,
        NotRevealed,
        Deviated,
        CheckpointWithheld
    }

    /// @notice A training request.
    /// @param baseModelId The registered model to fine-tune (its servers are drawn).
    /// @param dataHash sha256 of the training data's canonical bytes (inference/training/data.py).
    /// @param seed The training seed (also in the spec).
    /// @param rounds R, 1..MAX_ROUNDS.
    /// @param stepsPerRound S, >= 1.
    /// @param committeeSize Odd, 3..the oracle's maxCommitteeSize.
    /// @param tolerance Per-lane round tolerance (lane 0 in the most significant byte), between
    /// {roundToleranceFloor} and {maxRoundTolerance}; USE_DEFAULT_TOLERANCE for the floor.
    /// @param callbackGasLimit Gas for the requester's callback (0: none).
    struct TrainingRequest {
        bytes32 baseModelId;
        bytes32 dataHash;
        uint64 seed;
        uint8 rounds;
        uint32 stepsPerRound;
        uint8 committeeSize;
        uint32 tolerance;
        uint32 callbackGasLimit;
    }

    /// @notice A member's opening of its round commitment, for {revealRound}.
    struct RoundOpening {
        uint8 position;
        address member;
        bytes32 digest;
        bytes32 checkpointSha256;
        bytes32 salt;
    }

    struct TrainingTaskInfo {
        address requester;
        bytes32 baseModelId;
        bytes32 dataHash;
        bytes32 specHash;
        TrainingStatus status;
        TrainingPhase phase;
        TrainingFailure failure;
        uint8 committeeSize;
        uint8 rounds;
        uint8 round; // the current round (0-based); == rounds once Completed
        uint32 tolerance;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 drawBlock; // the request's block (committee randomness)
        uint64 sealBlock; // the block that sealed this round's commitments (0: not yet)
        uint256 fee; // still escrowed
        uint256 roundFee; // members' fee of one round
        uint32 callbackGasLimit;
        bytes32 startCheckpoint; // this round's start (0 in round 0: the base weights)
        bytes32 modelId; // the registered model once Completed
        address[] members;
        bool[] committed;
        bool[] revealed;
    }

    event TrainingRequested(
        uint256 indexed taskId,
        address indexed requester,
        bytes32 indexed baseModelId,
        bytes32 dataHash,
        bytes32 specHash,
        bytes spec,
        uint64 seed,
        uint8 rounds,
        uint32 stepsPerRound,
        uint8 committeeSize,
        uint32 tolerance,
        uint256 fee,
        uint64 drawBlock,
        uint64 commitDeadline
    );
    event TrainingCommitteeDrawn(uint256 indexed taskId, address[] members, bytes32 entropy);
    event TrainingNotDrawn(uint256 indexed taskId, IOracleTypes.DrawFailure reason);
    /// @param startCheckpoint sha256 of the checkpoint the round starts from (0: base weights).
    /// @param startMember The member serving it (zero in round 0).
    event RoundStarted(
        uint256 indexed taskId,
        uint8 round,
        bytes32 startCheckpoint,
        address startMember,
        uint64 commitDeadline,
        uint64 revealDeadline
    );
    event RoundCommitted(uint256 indexed taskId, uint8 round, address indexed member);
    /// @notice The commitments of a round are sealed: its canonical-checkpoint randomness is the
    /// hash of block `sealBlock`, which no member could know when it committed.
    event RoundSealed(uint256 indexed taskId, uint8 round, uint64 sealBlock);
    event RoundRevealed(
        uint256 indexed taskId,
        uint8 round,
        address indexed member,
        bytes32 digest,
        bytes32 checkpointSha256
    );
    /// @param paid Members paid this round (the tolerant majority), `feeEach` plus `slashShare`.
    /// @param randomness The round's randomness; canonical = argmin over `paid` of
    /// keccak256(abi.encode(randomness, checkpointSha256)), ties to the lowest position.
    event RoundResolved(
        uint256 indexed taskId,
        uint8 round,
        bytes32 digest,
        bytes32 canonicalCheckpoint,
        address canonicalMember,
        address[] paid,
        uint256 feeEach,
        uint256 slashShare,
        bytes32 randomness
    );
    event TrainingSlashed(
        uint256 indexed taskId,
        uint8 round,
        address indexed operator,
        uint256 amount,
        TrainingSlashReason reason
    );
    /// @param manifest The trained model's manifest (canonical JSON); `modelId` is its sha256.
    /// @param registered Whether the registry took it (false only if the registry refused: no
    /// registrar set, or the id already taken; the task completes and pays either way).
    event TrainingCompleted(
        uint256 indexed taskId,
        bytes32 indexed modelId,
        bytes32 weightsSha256,
        string manifest,
        bool registered
    );
    event TrainingFailed(
        uint256 indexed taskId, uint8 round, TrainingFailure reason, uint256 refund
    );
    event TrainingCallbackCompleted(uint256 indexed taskId, address indexed consumer, bool success);

    error TrainingInvalidCommittee(uint8 committeeSize);
    error TrainingInvalidSchedule(uint8 rounds, uint32 stepsPerRound);
    error TrainingInvalidTolerance(uint32 tolerance);
    error TrainingEmptySpec();
    error TrainingFeeTooLow(uint256 sent, uint256 required);
    error TrainingFeeTooHigh(uint256 sent, uint256 maximum);
    error TrainingCallbackGasTooHigh(uint32 requested, uint32 maximum);
    error TrainingDrawBacklogFull(uint256 pending);
    error TrainingTaskNotFound(uint256 taskId);
    error TrainingWrongPhase(uint256 taskId, TrainingPhase phase);
    error TrainingWrongRound(uint256 taskId, uint8 round, uint8 current);
    error TrainingNotMember(uint256 taskId, address account);
    error TrainingAlreadyCommitted(uint256 taskId, address member);
    error TrainingZeroCommitment(uint256 taskId);
    error TrainingNotCommitted(uint256 taskId, address member);
    error TrainingCommitmentMismatch(uint256 taskId, address member);
    error TrainingNothingToReveal(uint256 taskId);
    error TrainingOnlyOracle(address caller);
    error TrainingInsufficientGasForCallback(uint256 available, uint256 callbackGasLimit);

    /// @notice Requests a fine-tune of `request.baseModelId`; `spec` is the training spec's
    /// canonical JSON (inference/training/spec.py), emitted, its sha256 stored.
    /// @dev Requirements: see TrainingTasks.requestTraining.
    function requestTraining(TrainingRequest calldata request, bytes calldata spec)
        external
        payable
        returns (uint256 taskId);

    /// @notice Draws every waiting committee whose randomness exists (keepers).
    function drawTraining() external;

    /// @notice A member commits to its round `round` result.
    function commitRound(uint256 taskId, uint8 round, uint8 position, bytes32 commitment)
        external;

    /// @notice Reveals members' round openings; the one completing the set resolves if it can.
    function revealRound(uint256 taskId, uint8 round, RoundOpening[] calldata openings) external;

    /// @notice Ends the current round (or the task) once its outcome can no longer change.
    function resolveRound(uint256 taskId) external;

    /// @notice The fee a request must carry.
    function requiredFee(uint8 committeeSize, uint8 rounds, uint32 callbackGasLimit)
        external
        view
        returns (uint256);

    function phaseOf(uint256 taskId) external view returns (TrainingPhase);

    function membersOf(uint256 taskId) external view returns (address[] memory members);

    function getTrainingTask(uint256 taskId) external view returns (TrainingTaskInfo memory info);

    /// @notice The canonical checkpoint of a resolved round and the member serving it.
    function canonicalOf(uint256 taskId, uint8 round)
        external
        view
        returns (bytes32 checkpointSha256, address member);

    /// @notice The registered model of a Completed task (zero otherwise).
    function trainedModelOf(uint256 taskId) external view returns (bytes32 modelId);

    function taskCount() external view returns (uint256);
}
