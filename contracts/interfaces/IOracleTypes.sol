// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IOracleTypes
/// @notice The types, events and errors of the oracle (GenerationOracle and its OperatorDesk):
/// one home, shared by every part that emits or raises them.
/// @dev A digest is bytes32 = four 64-bit lanes (lane 0 = most significant 64 bits). A tolerance is
/// uint32 = four 8-bit thresholds (lane 0 = most significant byte). Two digests agree iff for every
/// lane i: popcount(lane_i(a) XOR lane_i(b)) <= threshold_i.
interface IOracleTypes {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    /// @dev `Drawing`: requested, committee not drawn yet. `Open` covers the commit and reveal
    /// phases; see {Phase} for the fine-grained view.
    enum TaskStatus {
        None,
        Drawing,
        Open,
        Resolved,
        NoConsensus,
        Expired
    }

    /// @dev A pure function of the task's state and the block time (no stored state machine).
    /// `Draw`: waiting for its randomness block, or drawable by anyone ({drawCommittees}).
    enum Phase {
        None,
        Draw,
        Commit,
        Reveal,
        Resolvable,
        Finished
    }

    /// @dev Why a task ended without a verified digest ({TaskFailed}, consumer callbacks).
    /// `InvalidInput` is used for consumer callbacks only: the task itself is `Resolved` with
    /// the reserved INVALID_INPUT_DIGEST and the verifiers are paid. `NotDrawn`: no committee could
    /// be drawn (too few operators serve the model any more, or nobody drew it in time).
    enum FailureReason {
        None,
        NoConsensus,
        Expired,
        InvalidInput,
        NotDrawn
    }

    /// @dev Why a member was slashed ({OperatorSlashed}).
    enum SlashReason {
        None,
        Deviated,
        NotRevealed,
        NotCommitted
    }

    /// @dev Why a ready task got no committee ({CommitteeNotDrawn}).
    enum DrawFailure {
        None,
        NotEnoughOperators,
        StaleRandomness
    }

    /// @notice Fixed at deployment.
    /// @param minStake Smallest stake (wei) that registers an operator and keeps it eligible.
    /// @param minFeePerMember Smallest fee (wei) per committee member.
    /// @param commitWindow Seconds from the request to the commit deadline.
    /// @param revealWindow Seconds from the commit deadline to the reveal deadline.
    /// @param unbondingDelay Seconds from requestExit() until the stake can be withdrawn.
    /// @param slashDeviationBps Share of stake (basis points) slashed for a deviating digest or a
    /// commit that was never revealed although it could have been.
    /// @param slashNoCommitBps Share of stake (basis points) slashed for never committing.
    /// @param maxCallbackGasLimit Largest callback gas a requester may ask for (<=
    /// MAX_CALLBACK_GAS_LIMIT, so a resolution always fits in one transaction).
    /// @param maxCommitteeSize Largest committee a requester may ask for (odd, 3..7).
    /// @param callbackGasPrice Wei per unit of callback gas the requester pays on top of the
    /// members' fee; credited to whoever sends the resolving transaction.
    /// @param treasury Receives rounding dust and slashes no one else can receive.
    struct Config {
        uint96 minStake;
        uint96 minFeePerMember;
        uint32 commitWindow;
        uint32 revealWindow;
        uint32 unbondingDelay;
        uint16 slashDeviationBps;
        uint16 slashNoCommitBps;
        uint32 maxCallbackGasLimit;
        uint8 maxCommitteeSize;
        uint64 callbackGasPrice;
        address treasury;
    }

    /// @notice One member's opening of its commitment, for {revealBatch}.
    struct Opening {
        uint8 position; // the member's committee position (index into TaskInfo.committee)
        address operator; // the member at that position (checked; saves reading it)
        bytes32 digest;
        bytes32 salt;
    }

    struct OperatorInfo {
        uint256 stake;
        string endpoint;
        bool active;
        bool exiting;
        uint64 withdrawableAt;
        uint32 openTasks;
        bool paused;
        bytes32[] models;
    }

    /// @dev `committed`, `revealed` and `digests` are indexed like `committee` (empty while the
    /// task is Drawing or if no committee could be drawn); a digest is zero until its member
    /// reveals. `result` is the winning digest once `Resolved`.
    struct TaskInfo {
        address requester;
        bytes32 modelId;
        TaskStatus status;
        uint8 committeeSize;
        uint32 tolerance;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 drawBlock;
        uint256 fee;
        uint32 callbackGasLimit;
        bytes32 result;
        address[] committee;
        bool[] committed;
        bool[] revealed;
        bytes32[] digests;
    }

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    event OperatorRegistered(address indexed operator, string endpoint, uint256 stake);
    event StakeAdded(address indexed operator, uint256 amount, uint256 newStake);
    event EndpointUpdated(address indexed operator, string endpoint);
    event ModelServed(address indexed operator, bytes32 indexed modelId);
    event ModelUnserved(address indexed operator, bytes32 indexed modelId);
    event AssignmentsPaused(address indexed operator);
    event AssignmentsResumed(address indexed operator);
    event ExitRequested(address indexed operator, uint256 withdrawableAt);
    event StakeWithdrawn(address indexed operator, uint256 amount);
    event BalanceClaimed(address indexed account, uint256 amount);
    event TreasuryWithdrawn(address indexed treasury, uint256 amount);

    /// @param drawBlock The block whose hash draws the committee: the block that includes this
    /// request, so no transaction in it (the request included) can know the committee.
    event TaskRequested(
        uint256 indexed taskId,
        address indexed requester,
        bytes32 indexed modelId,
        bytes input,
        uint8 committeeSize,
        uint32 tolerance,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint256 fee,
        uint64 drawBlock
    );
    /// @param entropy The randomness the committee was drawn with; a seed of 0 in the task's
    /// input means "derive the seed from (taskId, entropy)", so nobody can precompute the output.
    event CommitteeDrawn(uint256 indexed taskId, address[] committee, bytes32 entropy);
    event CommitteeNotDrawn(uint256 indexed taskId, DrawFailure reason);
    event CommitSubmitted(uint256 indexed taskId, address indexed operator);
    event DigestRevealed(uint256 indexed taskId, address indexed operator, bytes32 digest);
    /// @param support Number of revealed digests that agree with `digest` (itself included).
    /// @param agreeing Members paid: their digest agrees with `digest` or with a majority of the
    /// revealed digests; in committee order.
    /// @param share What each of them was credited (fee and slashes split; no Credited event is
    /// emitted for these shares, to keep the resolution cheap).
    event TaskResolved(
        uint256 indexed taskId, bytes32 digest, uint8 support, address[] agreeing, uint256 share
    );
    event TaskFailed(uint256 indexed taskId, FailureReason reason);
    event OperatorSlashed(
        uint256 indexed taskId, address indexed operator, uint256 amount, SlashReason reason
    );
    event Credited(address indexed account, uint256 amount);
    event CallbackCompleted(uint256 indexed taskId, address indexed consumer, bool success);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    error InvalidConfig(string field);
    error InvalidCommitteeSize(uint8 committeeSize);
    error FeeTooLow(uint256 sent, uint256 required);
    error FeeTooHigh(uint256 sent, uint256 maximum);
    error CallbackGasTooHigh(uint32 requested, uint32 maximum);
    error NotEnoughOperators(bytes32 modelId, uint256 eligible, uint8 requested);
    error DrawBacklogFull(uint256 pending);
    error TooManyOperators(uint256 maximum);
    error StakeTooLow(uint256 stake, uint256 minStake);
    error ZeroAmount();
    error InvalidEndpoint(uint256 length);
    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error OperatorExiting(address operator);
    error NotExiting(address operator);
    error OpenAssignments(address operator, uint32 openTasks);
    error AssignmentsAlreadyPaused(address operator);
    error AssignmentsNotPaused(address operator);
    error AlreadyServing(address operator, bytes32 modelId);
    error NotServing(address operator, bytes32 modelId);
    error TooManyServedModels(address operator, uint256 maximum);
    error UnbondingNotOver(address operator, uint256 withdrawableAt);
    error NothingToClaim(address account);
    error TaskNotFound(uint256 taskId);
    error WrongPhase(uint256 taskId, Phase phase);
    error NotCommitteeMember(uint256 taskId, address account);
    error AlreadyCommitted(uint256 taskId, address operator);
    error ZeroCommitment(uint256 taskId);
    error NotCommitted(uint256 taskId, address operator);
    error AlreadyRevealed(uint256 taskId, address operator);
    error CommitmentMismatch(uint256 taskId, address operator);
    error NoOpenings(uint256 taskId);
    error NothingToReveal(uint256 taskId);
    error InvalidPosition(uint256 taskId, uint256 position);
    error OnlyModelRegistry(address caller);
    error InsufficientGasForCallback(uint256 available, uint256 callbackGasLimit);
}
