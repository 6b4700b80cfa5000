// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IGenerationOracle
/// @notice Types, events, errors and functions of the generative-AI verification oracle: staked
/// operators, a registry of deterministic models, and tasks resolved by a tolerant majority of a
/// stake-weighted committee (commit, then reveal, of a locality-sensitive digest).
/// @dev A digest is bytes32 = four 64-bit lanes (lane 0 = most significant 64 bits). A tolerance is
/// uint32 = four 8-bit thresholds (lane 0 = most significant byte). Two digests agree iff for every
/// lane i: popcount(lane_i(a) XOR lane_i(b)) <= threshold_i.
interface IGenerationOracle {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    enum ModelKind {
        Image,
        Text
    }

    /// @dev `Open` covers the commit and reveal phases; see {Phase} for the fine-grained view.
    enum TaskStatus {
        None,
        Open,
        Resolved,
        NoConsensus,
        Expired
    }

    /// @dev A pure function of the task's state and the block time (no stored state machine).
    enum Phase {
        None,
        Commit,
        Reveal,
        Resolvable,
        Finished
    }

    /// @dev Reason codes of {TaskFailed} and IGenerationConsumer.onGenerationFailed.
    /// `InvalidInput` is used for consumer callbacks only: the task itself is `Resolved` with
    /// the reserved INVALID_INPUT_DIGEST and the verifiers are paid.
    enum FailureReason {
        None,
        NoConsensus,
        Expired,
        InvalidInput
    }

    /// @dev Reason codes of {OperatorSlashed}.
    enum SlashReason {
        None,
        Deviated,
        NotRevealed,
        NotCommitted
    }

    /// @notice Fixed at deployment.
    /// @param minStake Smallest stake (wei) that registers an operator and keeps it eligible.
    /// @param minFeePerMember Smallest fee (wei) per committee member.
    /// @param commitWindow Seconds from the request to the commit deadline.
    /// @param revealWindow Seconds from the commit deadline to the reveal deadline.
    /// @param unbondingDelay Seconds from requestExit() until the stake can be withdrawn.
    /// @param slashDeviationBps Share of stake (basis points) slashed for a deviating digest or a
    /// commit that was never revealed.
    /// @param slashNoCommitBps Share of stake (basis points) slashed for never committing.
    /// @param maxCallbackGasLimit Largest callback gas a requester may ask for.
    /// @param maxCommitteeSize Largest committee a requester may ask for (odd, <= 7).
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
        address treasury;
    }

    /// @notice One member's opening of its commitment, for {revealBatch}.
    struct Opening {
        uint8 position; // the member's committee position (index into TaskInfo.committee)
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
    }

    struct ModelInfo {
        ModelKind kind;
        bool active;
        uint32 defaultTolerance;
        uint32 maxTolerance;
        string digestScheme;
        string metadataURI;
    }

    /// @dev `committed`, `revealed` and `digests` are indexed like `committee`; a digest is zero
    /// until its member reveals. `result` is the winning digest once `Resolved`.
    struct TaskInfo {
        address requester;
        bytes32 modelId;
        TaskStatus status;
        uint8 committeeSize;
        uint32 tolerance;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint256 fee;
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
    event AssignmentsPaused(address indexed operator);
    event AssignmentsResumed(address indexed operator);
    event ExitRequested(address indexed operator, uint256 withdrawableAt);
    event StakeWithdrawn(address indexed operator, uint256 amount);
    event BalanceClaimed(address indexed account, uint256 amount);
    event TreasuryWithdrawn(address indexed treasury, uint256 amount);

    event ModelRegistered(
        bytes32 indexed modelId,
        ModelKind kind,
        string digestScheme,
        uint32 defaultTolerance,
        uint32 maxTolerance,
        string metadataURI
    );
    event ModelStatusChanged(bytes32 indexed modelId, bool active);

    /// @param entropy The randomness the committee was drawn with; a seed of 0 in `input` means
    /// "derive the seed from (taskId, entropy)", so nobody can precompute the output.
    event TaskRequested(
        uint256 indexed taskId,
        address indexed requester,
        bytes32 indexed modelId,
        bytes input,
        address[] committee,
        uint32 tolerance,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint256 fee,
        bytes32 entropy
    );
    event CommitSubmitted(uint256 indexed taskId, address indexed operator);
    event RevealPhaseStarted(uint256 indexed taskId);
    event DigestRevealed(uint256 indexed taskId, address indexed operator, bytes32 digest);
    /// @param support Number of revealed digests that agree with `digest` (itself included).
    /// @param agreeing Members paid for agreeing with `digest`, in committee order.
    event TaskResolved(uint256 indexed taskId, bytes32 digest, uint8 support, address[] agreeing);
    /// @param reason A {FailureReason}: NoConsensus or Expired.
    event TaskFailed(uint256 indexed taskId, uint8 reason);
    /// @param reason A {SlashReason}.
    event OperatorSlashed(
        uint256 indexed taskId, address indexed operator, uint256 amount, uint8 reason
    );
    event Credited(address indexed account, uint256 amount);
    event CallbackCompleted(uint256 indexed taskId, address indexed consumer, bool success);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    error InvalidConfig(string field);
    error UnknownModel(bytes32 modelId);
    error ModelInactive(bytes32 modelId);
    error ModelAlreadyRegistered(bytes32 modelId);
    error InvalidModelId();
    error InvalidDigestScheme();
    error InvalidTolerance(uint32 tolerance);
    error InvalidCommitteeSize(uint8 committeeSize);
    error ToleranceTooHigh(uint32 tolerance, uint32 maxTolerance);
    error FeeTooLow(uint256 sent, uint256 required);
    error FeeTooHigh(uint256 sent, uint256 maximum);
    error CallbackGasTooHigh(uint32 requested, uint32 maximum);
    error NotEnoughOperators(uint256 eligible, uint8 requested);
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
    error InvalidPosition(uint256 taskId, uint256 position);
    error InsufficientGasForCallback(uint256 available, uint256 callbackGasLimit);

    // ------------------------------------------------------------------------------------------
    // Functions used by consumers
    // ------------------------------------------------------------------------------------------

    /// @notice Requests a verified generation; see GenerationOracle for the full contract.
    function requestGeneration(
        bytes32 modelId,
        bytes calldata input,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256 taskId);

    /// @notice Pays out the caller's credited balance (fee shares, slash shares, refunds).
    function claim() external;

    /// @notice Credited balance of `account`, claimable with {claim}.
    function creditOf(address account) external view returns (uint256);

    /// @notice The deployment-time configuration.
    function config() external view returns (Config memory);
}
