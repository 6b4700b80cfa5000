// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {IAuditHost} from "./interfaces/IAuditedTasks.sol";
import {IGenerationOracle} from "./interfaces/IGenerationOracle.sol";
import {IOracleTypes} from "./interfaces/IOracleTypes.sol";
import {
    ITrainingConsumer,
    ITrainingDraws,
    ITrainingHost,
    ITrainingTasks
} from "./interfaces/ITrainingTasks.sol";
import {DigestAgreement} from "./libraries/DigestAgreement.sol";
import {ConsumerCallback} from "./libraries/ConsumerCallback.sol";
import {TolerantMajority} from "./libraries/TolerantMajority.sol";

/// @title TrainingTasks
/// @notice Verifiable fine-tuning in synchronised rounds (the paper's training result). A
/// committee drawn among a registered model's servers trains R rounds of S steps; each round every
/// member trains from the round's canonical start checkpoint and commits the round digest of its
/// checkpoint (probe generations under the model's perceptual scheme plus a graded sketch of the
/// weight update) with the checkpoint's sha256. The tolerant majority decides the round: its
/// members are paid the round's share of the fee, the outvoted and the no-shows are slashed, and
/// one agreeing member's checkpoint becomes the next round's start. Synchronising every S steps
/// keeps honest drift bounded (reports/study/TRAINING.md). After the last round the canonical
/// checkpoint is registered in the oracle's model registry as a new model whose manifest pins the
/// weights' sha256, the parent model, the data and the spec; the requester is called back.
/// @dev Why each rule:
/// - The committee comes from the hash of the request's block, drawn with the weights in force
///   before it existed (the oracle's delayed draw): a requester cannot see or steer its committee.
/// - A commitment binds its member, task and round (`keccak256(abi.encode(chainid, this, taskId,
///   round, member, digest, checkpointSha256, salt))`): copying another member's commitment or,
///   after the reveal, its digest and sha256, opens nothing for the copier.
/// - The canonical checkpoint is the agreeing member's with the lowest
///   `keccak256(abi.encode(randomness, checkpointSha256))`, `randomness` from the hash of the
///   block that sealed the round's commitments (the last commit, or the first reveal after the
///   commit deadline). With a fixed rule on the data alone (say, the lowest sha256) a member could
///   grind its checkpoint's bytes (noise far below the tolerance) until it wins, and so steer what
///   every member continues from; here every member's sha256 is fixed before the randomness
///   exists, so each agreeing member is chosen with the same chance whatever it does, and
///   withholding a reveal only removes one's own candidate (and is slashed).
/// - The replicated mode's slashing rules, per round: a member who did its part is never slashed
///   for others; fewer than a majority committed: the task fails (Expired), committers spared;
///   fewer than a majority revealed or no tolerant majority: it fails (NoConsensus), revealers
///   spared (nobody can say who deviated); no-shows are slashed in every case. A failed task
///   refunds the rounds not yet paid.
/// - A member that cannot fetch the previous round's canonical checkpoint reveals
///   CHECKPOINT_WITHHELD_DIGEST; a majority doing so fails the task and slashes the member who did
///   not serve it (otherwise one member could stall every honest member into a no-show).
/// Why a contract of its own: the oracle is at the EIP-170 size limit. Stakes, credits, pools and
/// the treasury stay in the oracle, which serves this contract through the same narrow host as
/// AuditedTasks (one attachment slot per module kind) and tells it before any weight changes
/// ({drawReadyTraining}). Balance invariant: this contract's balance is the escrowed fees of its
/// open tasks; each settlement sends its part to the oracle, which credits it.
contract TrainingTasks is ITrainingTasks, ITrainingDraws, ReentrancyGuardTransient {
    using SafeCast for uint256;

    /// @notice Revealed by every member who finds the request unusable (spec not matching the
    /// request, data not served or not matching its hash, base model unusable). Wins only if every
    /// revealed digest is it: the revealers are paid the round, the rest is refunded.
    bytes32 public constant INVALID_REQUEST_DIGEST = keccak256("genoracle.invalid-training-request");
    /// @notice Revealed by a member that could not fetch the previous round's canonical checkpoint
    /// (by its sha256) from the member who committed it.
    bytes32 public constant CHECKPOINT_WITHHELD_DIGEST = keccak256("genoracle.checkpoint-withheld");
    /// @notice Training task ids are TASK_ID_OFFSET + 1, + 2, ... (audited: 2^128, replicated: below).
    uint256 public constant TASK_ID_OFFSET = 2 << 128;
    /// @notice Pass as `tolerance` for the round tolerance floor.
    uint32 public constant USE_DEFAULT_TOLERANCE = type(uint32).max;
    /// @notice Most rounds per task (as inference/training/spec.py).
    uint8 public constant MAX_ROUNDS = 64;
    /// @notice Largest committee (member indices are packed 20 bits each).
    uint8 public constant MAX_COMMITTEE = 7;
    /// @notice At most this many committee draws wait for their randomness.
    uint256 public constant MAX_PENDING_DRAWS = 16;
    /// @notice Largest fee a task can escrow (packed into 80 bits).
    uint256 public constant MAX_FEE = type(uint80).max;
    /// @notice The format field of a trained model's manifest.
    string public constant MANIFEST_FORMAT = "genoracle.trained-model/1";

    uint256 private constant INDEX_BITS = 20;
    uint256 private constant INDEX_MASK = (1 << 20) - 1;

    /// @dev Word 0 of a task.
    struct Core {
        TrainingStatus status;
        uint8 size;
        uint8 rounds;
        uint8 round;
        uint8 committedMask;
        uint8 revealedMask;
        uint32 deadline; // the current round's commit deadline (round 0: also the draw's)
        uint32 drawBlock; // the request's block
        uint32 sealBlock; // the block that sealed this round's commitments (0: not yet)
        uint32 tolerance;
        uint24 callbackGasLimit;
        uint16 modelIndex;
    }

    /// @dev Word 1: who pays, and what is still escrowed (members' fees of the rounds to come
    /// plus the callback gas fee).
    struct Payment {
        address requester;
        uint80 fee;
    }

    /// @dev What the manifest of the trained model pins beside its weights.
    struct Terms {
        bytes32 dataHash;
        bytes32 specHash;
    }

    /// @dev A resolved round's canonical checkpoint.
    struct Canonical {
        bytes32 checkpoint;
        address member;
    }

    /// @dev Committee draws: in task order, from `drawnThrough`.
    struct Counters {
        uint64 taskCount;
        uint64 drawnThrough;
    }

    /// @dev The outcome of a round, computed before any balance moves.
    struct Verdict {
        bool resolved; // a tolerant majority: paid, canonical chosen
        TrainingFailure failure; // None while the task goes on
        uint256 paidMask; // share the slashes (and the round's fee if `feeMask` says so)
        uint256 feeMask; // paid the round's fee
        uint256 sparedMask; // not slashed
        uint256 blameMask; // slashed as Deviated / CheckpointWithheld whatever they did
        bytes32 digest;
        uint256 canonical; // position of the canonical member
        bytes32 randomness;
    }

    /// @notice The oracle whose operators, stakes and credits this contract uses.
    IGenerationOracle public immutable oracle;
    /// @notice How long members have to train a round and commit (seconds).
    uint32 public immutable roundWindow;
    /// @notice The lowest per-lane round tolerance a request may ask for (the honest floor of the
    /// round digest, inference/training/digest.py's ROUND_TOLERANCE).
    uint32 public immutable roundToleranceFloor;
    /// @notice The highest per-lane round tolerance a request may ask for.
    uint32 public immutable maxRoundTolerance;
    uint96 private immutable _minFeePerMember;
    uint32 private immutable _revealWindow;
    uint16 private immutable _slashDeviationBps;
    uint16 private immutable _slashNoCommitBps;
    uint32 private immutable _maxCallbackGasLimit;
    uint8 private immutable _maxCommittee;
    uint64 private immutable _callbackGasPrice;

    Counters private _counters;
    mapping(uint256 taskId => Core) private _cores;
    mapping(uint256 taskId => Payment) private _payments;
    mapping(uint256 taskId => Terms) private _terms;
    /// @dev Operator indices, 20 bits each, by committee position (0: not drawn).
    mapping(uint256 taskId => uint256) private _members;
    /// @dev Keyed by taskId * 8 + position: this round's commitment, then its revealed digest.
    mapping(uint256 sealKey => bytes32) private _seals;
    /// @dev Keyed as `_seals`: this round's revealed checkpoint sha256.
    mapping(uint256 sealKey => bytes32) private _checkpoints;
    /// @dev Keyed by taskId * 64 + round.
    mapping(uint256 roundKey => Canonical) private _canonical;
    mapping(uint256 taskId => bytes32) private _trainedModels;

    /// @param oracle_ The GenerationOracle whose configuration (fees, reveal window, slash rates,
    /// callback bounds, largest committee) this contract copies; its registry's owner must attach
    /// this contract (`attachTrainingTasks`) and make it the registry's registrar.
    /// @param roundWindow_ Seconds to train one round and commit (> 0).
    /// @param toleranceFloor The round tolerance floor; `maxTolerance` lane-wise at least it.
    constructor(
        IGenerationOracle oracle_,
        uint32 roundWindow_,
        uint32 toleranceFloor,
        uint32 maxTolerance
    ) {
        IOracleTypes.Config memory cfg = oracle_.config();
        if (roundWindow_ == 0) revert IOracleTypes.InvalidConfig("roundWindow");
        if (
            !DigestAgreement.withinTolerance(toleranceFloor, maxTolerance)
                || !DigestAgreement.withinTolerance(maxTolerance, 0x40404040)
        ) revert IOracleTypes.InvalidConfig("roundTolerance");
        oracle = oracle_;
        roundWindow = roundWindow_;
        roundToleranceFloor = toleranceFloor;
        maxRoundTolerance = maxTolerance;
        _minFeePerMember = cfg.minFeePerMember;
        _revealWindow = cfg.revealWindow;
        _slashDeviationBps = cfg.slashDeviationBps;
        _slashNoCommitBps = cfg.slashNoCommitBps;
        _maxCallbackGasLimit = cfg.maxCallbackGasLimit;
        _maxCommittee = cfg.maxCommitteeSize < MAX_COMMITTEE ? cfg.maxCommitteeSize : MAX_COMMITTEE;
        _callbackGasPrice = cfg.callbackGasPrice;
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITrainingTasks
    /// @dev Nothing is drawn here (the committee comes from this block's hash); round 0's commit
    /// deadline is `roundWindow` from now, and its committee must be drawn before it.
    /// Requirements: `committeeSize` odd, 3..the oracle's maxCommitteeSize (at most 7); `rounds`
    /// 1..MAX_ROUNDS; `stepsPerRound` >= 1; a nonempty spec; an active base model served by at
    /// least `committeeSize` drawable operators; `tolerance` USE_DEFAULT_TOLERANCE or lane-wise
    /// between {roundToleranceFloor} and {maxRoundTolerance}; `callbackGasLimit` <= the oracle's
    /// maxCallbackGasLimit; `msg.value` >= {requiredFee} and <= MAX_FEE; fewer than
    /// MAX_PENDING_DRAWS committee draws waiting.
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function requestTraining(TrainingRequest calldata request, bytes calldata spec)
        external
        payable
        returns (uint256 taskId)
    {
        uint8 size = request.committeeSize;
        if (size < 3 || size % 2 == 0 || size > _maxCommittee) {
            revert TrainingInvalidCommittee(size);
        }
        if (request.rounds == 0 || request.rounds > MAX_ROUNDS || request.stepsPerRound == 0) {
            revert TrainingInvalidSchedule(request.rounds, request.stepsPerRound);
        }
        if (spec.length == 0) revert TrainingEmptySpec();
        uint32 tolerance = _grantTolerance(request.tolerance);
        if (request.callbackGasLimit > _maxCallbackGasLimit) {
            revert TrainingCallbackGasTooHigh(request.callbackGasLimit, _maxCallbackGasLimit);
        }
        uint256 required = _requiredFee(size, request.rounds, request.callbackGasLimit);
        if (msg.value < required) revert TrainingFeeTooLow(msg.value, required);
        if (msg.value > MAX_FEE) revert TrainingFeeTooHigh(msg.value, MAX_FEE);
        uint16 modelIndex = ITrainingHost(address(oracle)).trainingTerms(request.baseModelId, size);
        Counters memory counters = _counters;
        _drawReady(counters);
        uint256 pending = counters.taskCount - counters.drawnThrough;
        if (pending >= MAX_PENDING_DRAWS) revert TrainingDrawBacklogFull(pending);
        taskId = TASK_ID_OFFSET + ++counters.taskCount;
        _counters = counters;

        uint32 deadline = (block.timestamp + roundWindow).toUint32();
        _cores[taskId] = Core({
            status: TrainingStatus.Drawing,
            size: size,
            rounds: request.rounds,
            round: 0,
            committedMask: 0,
            revealedMask: 0,
            deadline: deadline,
            drawBlock: block.number.toUint32(),
            sealBlock: 0,
            tolerance: tolerance,
            callbackGasLimit: uint24(request.callbackGasLimit),
            modelIndex: modelIndex
        });
        _payments[taskId] = Payment({requester: msg.sender, fee: uint80(msg.value)});
        bytes32 specHash = sha256(spec);
        _terms[taskId] = Terms({dataHash: request.dataHash, specHash: specHash});
        emit TrainingRequested(
            taskId,
            msg.sender,
            request.baseModelId,
            request.dataHash,
            specHash,
            spec,
            request.seed,
            request.rounds,
            request.stepsPerRound,
            size,
            tolerance,
            msg.value,
            uint64(block.number),
            deadline
        );
    }

    /// @inheritdoc ITrainingTasks
    /// @dev Requirements: none (a draw that cannot be made marks its task, never reverts).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function drawTraining() external {
        Counters memory counters = _counters;
        _drawReady(counters);
        _counters = counters;
    }

    /// @inheritdoc ITrainingDraws
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function drawReadyTraining() external {
        if (msg.sender != address(oracle)) revert TrainingOnlyOracle(msg.sender);
        Counters memory counters = _counters;
        _drawReady(counters);
        _counters = counters;
    }

    /// @inheritdoc ITrainingTasks
    /// @dev `commitment` = keccak256(abi.encode(block.chainid, address(this), taskId, round,
    /// msg.sender, digest, checkpointSha256, salt)). Draws the committee first if nobody has. The
    /// commit that completes the set seals the round (its block's hash is the round's randomness).
    /// Requirements: phase Train; `round` is the current round; the caller is the member at
    /// `position` and has not committed this round; a nonzero commitment.
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function commitRound(uint256 taskId, uint8 round, uint8 position, bytes32 commitment)
        external
    {
        Core memory core = _cores[taskId];
        uint256 members = _members[taskId];
        address known;
        if (core.status == TrainingStatus.Drawing && core.drawBlock < block.number) {
            address[] memory drawn;
            (members, drawn) = _drawCommittee(taskId, core);
            if (position < drawn.length) known = drawn[position];
        }
        TrainingPhase phase = _phase(core, members);
        if (phase != TrainingPhase.Train) revert TrainingWrongPhase(taskId, phase);
        if (round != core.round) revert TrainingWrongRound(taskId, round, core.round);
        if (commitment == bytes32(0)) revert TrainingZeroCommitment(taskId);
        if (position >= core.size || _memberAddress(members, position, known) != msg.sender) {
            revert TrainingNotMember(taskId, msg.sender);
        }
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit != 0) revert TrainingAlreadyCommitted(taskId, msg.sender);
        _seals[_sealKey(taskId, position)] = commitment;
        core.committedMask |= bit;
        emit RoundCommitted(taskId, round, msg.sender);
        if (core.committedMask == _fullMask(core.size)) _seal(taskId, core);
        _cores[taskId] = core;
    }

    /// @inheritdoc ITrainingTasks
    /// @dev Anyone may send members' openings: an opening names the member at its position and
    /// its commitment binds that member, so it counts only for the member who committed it (a
    /// copied commitment opens for nobody but its author). Openings already revealed are skipped. The first
    /// reveal after a commit deadline that left the set incomplete seals the round.
    /// Requirements: phase Reveal; `round` is the current round; each opening names the member at
    /// a committed position and matches its commitment; at least one new.
    function revealRound(uint256 taskId, uint8 round, RoundOpening[] calldata openings)
        external
        nonReentrant
    {
        Core memory core = _cores[taskId];
        uint256 members = _members[taskId];
        TrainingPhase phase = _phase(core, members);
        if (phase != TrainingPhase.Reveal) revert TrainingWrongPhase(taskId, phase);
        if (round != core.round) revert TrainingWrongRound(taskId, round, core.round);
        if (core.sealBlock == 0) _seal(taskId, core);
        uint8 before = core.revealedMask;
        for (uint256 i; i < openings.length; ++i) {
            RoundOpening calldata opening = openings[i];
            uint256 position = opening.position;
            if (position >= core.size) revert TrainingNotMember(taskId, opening.member);
            uint8 bit = uint8(1 << position);
            if (core.revealedMask & bit != 0) continue;
            if (core.committedMask & bit == 0) revert TrainingNotCommitted(taskId, opening.member);
            // The opening must name the member at its position: otherwise a member that copied
            // another's commitment bytes could open it at its own position with the other's
            // opening once that is revealed.
            if (_memberAddress(members, position, address(0)) != opening.member) {
                revert TrainingNotMember(taskId, opening.member);
            }
            uint256 key = _sealKey(taskId, position);
            if (_seals[key] != _commitment(taskId, round, opening)) {
                revert TrainingCommitmentMismatch(taskId, opening.member);
            }
            _seals[key] = opening.digest;
            _checkpoints[key] = opening.checkpointSha256;
            core.revealedMask |= bit;
            emit RoundRevealed(
                taskId, round, opening.member, opening.digest, opening.checkpointSha256
            );
        }
        if (core.revealedMask == before) revert TrainingNothingToReveal(taskId);
        if (core.revealedMask == core.committedMask && core.sealBlock < block.number) {
            _resolve(taskId, core, members);
            return;
        }
        _cores[taskId] = core;
    }

    /// @inheritdoc ITrainingTasks
    /// @dev Anyone may call; after the last round (or a failure) the callback fee is the caller's.
    /// If the round's randomness is gone (its seal block is more than 256 blocks old, or no reveal
    /// sealed it), this call seals it anew instead and a call in a later block resolves.
    /// Requirements: phase Resolvable (a task whose draw is ready is drawn first).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function resolveRound(uint256 taskId) external nonReentrant {
        Core memory core = _cores[taskId];
        uint256 members = _members[taskId];
        if (core.status == TrainingStatus.Drawing && core.drawBlock < block.number) {
            (members,) = _drawCommittee(taskId, core);
        }
        TrainingPhase phase = _phase(core, members);
        if (phase != TrainingPhase.Resolvable) revert TrainingWrongPhase(taskId, phase);
        _resolve(taskId, core, members);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITrainingTasks
    /// @dev The oracle's minimum fee per member for every member and round, plus the callback
    /// gas at the oracle's callback gas price.
    function requiredFee(uint8 committeeSize, uint8 rounds, uint32 callbackGasLimit)
        external
        view
        returns (uint256)
    {
        return _requiredFee(committeeSize, rounds, callbackGasLimit);
    }

    /// @inheritdoc ITrainingTasks
    function phaseOf(uint256 taskId) external view returns (TrainingPhase) {
        return _phase(_cores[taskId], _members[taskId]);
    }

    /// @inheritdoc ITrainingTasks
    /// @dev The committee once drawn, or, for a draw whose randomness exists but that nobody has
    /// made yet, the one it will produce (weights are frozen until it is made); empty entries are
    /// not known yet. Requirements: the task exists.
    function membersOf(uint256 taskId) external view returns (address[] memory members) {
        Core memory core = _cores[taskId];
        if (core.status == TrainingStatus.None) revert TrainingTaskNotFound(taskId);
        members = new address[](core.size);
        uint256 packed = _members[taskId];
        for (uint256 p; p < core.size; ++p) {
            members[p] = _memberAddress(packed, p, address(0));
        }
        if (
            core.status != TrainingStatus.Drawing || core.drawBlock >= block.number
                || block.timestamp > core.deadline
        ) return members;
        bytes32 entropy = _drawEntropy(taskId, core.drawBlock);
        if (entropy == bytes32(0)) return members;
        address[] memory drawn = IAuditHost(address(oracle)).auditPreview(
            core.modelIndex, entropy, core.size, address(0)
        );
        for (uint256 p; p < drawn.length; ++p) {
            members[p] = drawn[p];
        }
    }

    /// @inheritdoc ITrainingTasks
    /// @dev Requirements: the task exists.
    function getTrainingTask(uint256 taskId) external view returns (TrainingTaskInfo memory info) {
        Core memory core = _cores[taskId];
        if (core.status == TrainingStatus.None) revert TrainingTaskNotFound(taskId);
        uint256 packed = _members[taskId];
        Payment memory payment = _payments[taskId];
        Terms memory terms = _terms[taskId];
        info.requester = payment.requester;
        info.baseModelId = oracle.models().modelIdAt(core.modelIndex);
        info.dataHash = terms.dataHash;
        info.specHash = terms.specHash;
        info.status = core.status;
        info.phase = _phase(core, packed);
        info.committeeSize = core.size;
        info.rounds = core.rounds;
        info.round = core.round;
        info.tolerance = core.tolerance;
        info.commitDeadline = core.deadline;
        info.revealDeadline = uint64(core.deadline) + _revealWindow;
        info.drawBlock = core.drawBlock;
        info.sealBlock = core.sealBlock;
        info.fee = payment.fee;
        if (core.round < core.rounds && core.status <= TrainingStatus.Training) {
            info.roundFee = _roundFee(core, payment.fee);
        }
        info.callbackGasLimit = core.callbackGasLimit;
        if (core.round != 0) {
            info.startCheckpoint = _canonical[_roundKey(taskId, core.round - 1)].checkpoint;
        }
        info.modelId = _trainedModels[taskId];
        info.members = new address[](core.size);
        info.committed = new bool[](core.size);
        info.revealed = new bool[](core.size);
        for (uint256 p; p < core.size; ++p) {
            info.members[p] = _memberAddress(packed, p, address(0));
            info.committed[p] = core.committedMask & (1 << p) != 0;
            info.revealed[p] = core.revealedMask & (1 << p) != 0;
        }
    }

    /// @inheritdoc ITrainingTasks
    function canonicalOf(uint256 taskId, uint8 round)
        external
        view
        returns (bytes32 checkpointSha256, address member)
    {
        Canonical memory canonical = _canonical[_roundKey(taskId, round)];
        return (canonical.checkpoint, canonical.member);
    }

    /// @inheritdoc ITrainingTasks
    function trainedModelOf(uint256 taskId) external view returns (bytes32 modelId) {
        return _trainedModels[taskId];
    }

    /// @inheritdoc ITrainingTasks
    function taskCount() external view returns (uint256) {
        return _counters.taskCount;
    }

    /// @notice This round's commitment of `position` before its reveal, its digest after.
    function sealOf(uint256 taskId, uint256 position) external view returns (bytes32) {
        return _seals[_sealKey(taskId, position)];
    }

    /// @notice The canonical-checkpoint randomness of the current round (zero until its seal
    /// block is mined, and once that is more than 256 blocks old).
    function roundRandomness(uint256 taskId) external view returns (bytes32) {
        Core memory core = _cores[taskId];
        if (core.sealBlock == 0 || core.sealBlock >= block.number) return bytes32(0);
        return _roundEntropy(taskId, core.round, core.sealBlock);
    }

    /// @notice The manifest a task whose final canonical checkpoint is `weightsSha256` registers
    /// (canonical JSON: sorted keys, no spaces), and its model id, sha256 of the manifest.
    function manifestOf(uint256 taskId, bytes32 weightsSha256)
        public
        view
        returns (string memory manifest, bytes32 modelId)
    {
        Core memory core = _cores[taskId];
        if (core.status == TrainingStatus.None) revert TrainingTaskNotFound(taskId);
        Terms memory terms = _terms[taskId];
        manifest = string.concat(
            "{\"base_model\":\"",
            Strings.toHexString(uint256(oracle.models().modelIdAt(core.modelIndex)), 32),
            "\",\"data_sha256\":\"",
            _hex(terms.dataHash),
            "\",\"format\":\"",
            MANIFEST_FORMAT,
            "\",\"spec_sha256\":\"",
            _hex(terms.specHash),
            "\",\"training_task\":\"",
            Strings.toString(taskId),
            "\",\"weights_sha256\":\"",
            _hex(weightsSha256),
            "\"}"
        );
        modelId = sha256(bytes(manifest));
    }

    // ------------------------------------------------------------------------------------------
    // Randomness (replaceable)
    // ------------------------------------------------------------------------------------------

    /// @notice The randomness of a task's committee draw: the hash of its request's block mixed
    /// with the task id (zero once the block is more than 256 blocks old). Same trust assumption
    /// as the oracle's `_drawEntropy` (the block's proposer); override with a VRF where it does
    /// not hold.
    function _drawEntropy(uint256 taskId, uint256 drawBlock)
        internal
        view
        virtual
        returns (bytes32)
    {
        bytes32 hash = blockhash(drawBlock);
        if (hash == bytes32(0)) return bytes32(0);
        return keccak256(abi.encode(hash, taskId));
    }

    /// @notice The randomness that picks a round's canonical checkpoint: the hash of the block
    /// that sealed its commitments, mixed with the task and round (zero if unavailable). Same
    /// trust assumption and override as {_drawEntropy}.
    function _roundEntropy(uint256 taskId, uint256 round, uint256 sealBlock)
        internal
        view
        virtual
        returns (bytes32)
    {
        bytes32 hash = blockhash(sealBlock);
        if (hash == bytes32(0)) return bytes32(0);
        return keccak256(abi.encode(hash, taskId, round));
    }

    // ------------------------------------------------------------------------------------------
    // Draws
    // ------------------------------------------------------------------------------------------

    function _drawReady(Counters memory counters) private {
        uint256 next = uint256(counters.drawnThrough) + 1;
        for (; next <= counters.taskCount; ++next) {
            uint256 taskId = TASK_ID_OFFSET + next;
            Core memory core = _cores[taskId];
            if (core.status != TrainingStatus.Drawing) continue;
            if (core.drawBlock >= block.number) break;
            _drawCommittee(taskId, core);
        }
        counters.drawnThrough = uint64(next - 1);
    }

    /// @dev Draws the committee (Training), or none (resolvable at once: NotDrawn, refunded). A
    /// draw after round 0's commit deadline draws nobody: a member must never be slashed for a
    /// deadline that passed before it was drawn.
    function _drawCommittee(uint256 taskId, Core memory core)
        private
        returns (uint256 members, address[] memory drawn)
    {
        core.status = TrainingStatus.Training;
        bytes32 entropy = _drawEntropy(taskId, core.drawBlock);
        IOracleTypes.DrawFailure failure = IOracleTypes.DrawFailure.StaleRandomness;
        if (entropy != bytes32(0) && block.timestamp <= core.deadline) {
            uint256[] memory indices;
            (indices, drawn) =
                ITrainingHost(address(oracle)).trainingDraw(core.modelIndex, entropy, core.size);
            if (indices.length != 0) {
                for (uint256 i; i < indices.length; ++i) {
                    members |= indices[i] << (INDEX_BITS * i);
                }
                _members[taskId] = members;
                _cores[taskId] = core;
                emit TrainingCommitteeDrawn(taskId, drawn, entropy);
                emit RoundStarted(
                    taskId,
                    0,
                    bytes32(0),
                    address(0),
                    core.deadline,
                    uint64(core.deadline) + _revealWindow
                );
                return (members, drawn);
            }
            failure = IOracleTypes.DrawFailure.NotEnoughOperators;
        }
        _cores[taskId] = core;
        emit TrainingNotDrawn(taskId, failure);
    }

    // ------------------------------------------------------------------------------------------
    // Resolution
    // ------------------------------------------------------------------------------------------

    /// @dev Marks the round's commitments sealed in this block: its hash is the round's randomness.
    function _seal(uint256 taskId, Core memory core) private {
        core.sealBlock = block.number.toUint32();
        emit RoundSealed(taskId, core.round, uint64(block.number));
    }

    /// @dev Judges the round, settles it through the oracle, then starts the next round or ends
    /// the task (registering the model, calling back last).
    // Calls go only to the immutable oracle and its registry (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function _resolve(uint256 taskId, Core memory core, uint256 members) private {
        Verdict memory verdict = _judge(taskId, core, members);
        if (verdict.resolved && verdict.randomness == bytes32(0)) {
            // The randomness is gone (or not mined yet): seal anew; a later call resolves.
            _seal(taskId, core);
            _cores[taskId] = core;
            return;
        }
        uint8 round = core.round;
        // The round's masks, for the slash reasons (the next round starts with empty ones).
        uint256 masks = uint256(core.committedMask) | uint256(core.revealedMask) << 8;
        bool last = verdict.resolved && round + 1 == core.rounds;
        bytes32 checkpoint;
        if (verdict.resolved) {
            checkpoint = _checkpoints[_sealKey(taskId, verdict.canonical)];
            _canonical[_roundKey(taskId, round)] = Canonical({
                checkpoint: checkpoint,
                member: _memberAddress(members, verdict.canonical, address(0))
            });
        }
        Payment memory payment = _payments[taskId];
        (ITrainingHost.RoundSettlement memory settlement, uint256 value, uint256 feeEach) =
            _settlement(core, members, payment, verdict, last);
        if (verdict.failure != TrainingFailure.None) {
            core.status = TrainingStatus.Failed;
        } else if (last) {
            core.status = TrainingStatus.Completed;
            core.round = core.rounds;
        } else {
            core.round = round + 1;
            core.committedMask = 0;
            core.revealedMask = 0;
            core.sealBlock = 0;
            core.deadline = (block.timestamp + roundWindow).toUint32();
        }
        _cores[taskId] = core;
        _payments[taskId].fee = uint80(payment.fee - value);
        bool slashes;
        for (uint256 p; p < settlement.size; ++p) {
            if (settlement.slashBps[p] != 0) slashes = true;
        }
        if (slashes) {
            // Frozen weights: every draw whose randomness exists, here and in the oracle, is
            // completed before a slash changes a weight (the host completes AuditedTasks').
            Counters memory counters = _counters;
            _drawReady(counters);
            _counters = counters;
            // slither-disable-next-line unused-return
            ITrainingOracleIndex(address(oracle)).drawCommittees(type(uint256).max);
        }
        address[] memory operators;
        uint256[] memory slashed;
        uint256 slashShare;
        // The fee goes to the oracle (immutable), which credits it (see contracts/SLITHER.md);
        // the task's end closes the members' assignments.
        // slither-disable-next-line arbitrary-send-eth
        (operators, slashed, slashShare) = ITrainingHost(address(oracle)).settleRound{value: value}(
            settlement, verdict.failure != TrainingFailure.None || last
        );
        _announce(taskId, round, masks, verdict, operators, slashed, slashShare, feeEach, checkpoint);
        if (verdict.failure != TrainingFailure.None) {
            emit TrainingFailed(taskId, round, verdict.failure, settlement.refund);
            _callBack(
                taskId,
                payment.requester,
                core.callbackGasLimit,
                abi.encodeCall(ITrainingConsumer.onTrainingFailed, (taskId, uint8(verdict.failure)))
            );
        } else if (last) {
            bytes32 modelId = _register(taskId, checkpoint);
            _callBack(
                taskId,
                payment.requester,
                core.callbackGasLimit,
                abi.encodeCall(ITrainingConsumer.onTrainingCompleted, (taskId, modelId, checkpoint))
            );
        } else {
            emit RoundStarted(
                taskId,
                core.round,
                checkpoint,
                _memberAddress(members, verdict.canonical, address(0)),
                core.deadline,
                uint64(core.deadline) + _revealWindow
            );
        }
    }

    /// @dev The round's verdict (see the contract's NatSpec for why).
    function _judge(uint256 taskId, Core memory core, uint256 members)
        private
        view
        returns (Verdict memory verdict)
    {
        if (members == 0) {
            verdict.failure = TrainingFailure.NotDrawn;
            return verdict;
        }
        uint256 size = core.size;
        uint256 quorum = size / 2 + 1;
        if (_popCount(core.committedMask) < quorum) {
            verdict.failure = TrainingFailure.Expired;
            verdict.paidMask = core.committedMask;
            verdict.sparedMask = core.committedMask;
            return verdict;
        }
        bytes32[] memory digests = new bytes32[](size);
        uint256 withheldMask;
        for (uint256 p; p < size; ++p) {
            if (core.revealedMask & (1 << p) == 0) continue;
            digests[p] = _seals[_sealKey(taskId, p)];
            if (digests[p] == CHECKPOINT_WITHHELD_DIGEST) withheldMask |= 1 << p;
        }
        verdict.paidMask = core.revealedMask;
        verdict.sparedMask = core.revealedMask;
        verdict.failure = TrainingFailure.NoConsensus;
        if (_popCount(core.revealedMask) < quorum) return verdict;
        if (core.round != 0 && _popCount(withheldMask) >= quorum) {
            // The previous round's canonical member did not serve its checkpoint.
            Canonical memory previous = _canonical[_roundKey(taskId, core.round - 1)];
            uint256 blamed;
            for (uint256 p; p < size; ++p) {
                if (_memberAddress(members, p, address(0)) == previous.member) blamed = p;
            }
            verdict.failure = TrainingFailure.CheckpointWithheld;
            verdict.paidMask = withheldMask & ~(uint256(1) << blamed);
            verdict.sparedMask = core.revealedMask & ~(uint256(1) << blamed);
            verdict.blameMask = uint256(1) << blamed;
            return verdict;
        }
        TolerantMajority.Outcome memory outcome = TolerantMajority.decide(
            digests, core.revealedMask, core.tolerance, INVALID_REQUEST_DIGEST, quorum
        );
        if (outcome.support < quorum) return verdict; // NoConsensus: revealers spared
        verdict.digest = digests[outcome.winner];
        verdict.paidMask = outcome.agreeMask | outcome.majorityMask;
        verdict.sparedMask = verdict.paidMask;
        verdict.feeMask = verdict.paidMask;
        if (verdict.digest == INVALID_REQUEST_DIGEST) {
            verdict.failure = TrainingFailure.InvalidRequest;
            return verdict;
        }
        verdict.failure = TrainingFailure.None;
        verdict.resolved = true;
        verdict.randomness = core.sealBlock < block.number
            ? _roundEntropy(taskId, core.round, core.sealBlock)
            : bytes32(0);
        if (verdict.randomness == bytes32(0)) return verdict;
        uint256 best = type(uint256).max;
        for (uint256 p; p < size; ++p) {
            if (verdict.paidMask & (1 << p) == 0) continue;
            uint256 score = uint256(
                keccak256(abi.encode(verdict.randomness, _checkpoints[_sealKey(taskId, p)]))
            );
            if (score < best) (best, verdict.canonical) = (score, p);
        }
    }

    /// @dev Who is slashed by how much and credited what, and the ether the settlement carries.
    function _settlement(
        Core memory core,
        uint256 members,
        Payment memory payment,
        Verdict memory verdict,
        bool last
    ) private view returns (ITrainingHost.RoundSettlement memory s, uint256 value, uint256 feeEach) {
        uint256 size = core.size;
        s.members = members;
        s.size = members == 0 ? 0 : size;
        s.paidMask = verdict.paidMask;
        s.slashBps = new uint256[](s.size);
        s.fees = new uint256[](s.size);
        s.requester = payment.requester;
        s.resolver = msg.sender;
        uint256 resolverFee = uint256(core.callbackGasLimit) * _callbackGasPrice;
        bool ends = last || verdict.failure != TrainingFailure.None;
        uint256 roundFee = _roundFee(core, payment.fee);
        for (uint256 p; p < s.size; ++p) {
            uint256 bit = 1 << p;
            if (verdict.blameMask & bit != 0) {
                s.slashBps[p] = _slashDeviationBps;
            } else if (verdict.sparedMask & bit == 0) {
                s.slashBps[p] =
                    core.committedMask & bit == 0 ? _slashNoCommitBps : _slashDeviationBps;
            }
        }
        uint256 feeCount = _popCount(verdict.feeMask);
        if (feeCount != 0) {
            feeEach = roundFee / feeCount;
            for (uint256 p; p < s.size; ++p) {
                if (verdict.feeMask & (1 << p) != 0) s.fees[p] = feeEach;
            }
        }
        if (!ends) return (s, roundFee, feeEach);
        // The task ends: everything escrowed goes out; the rounds not trained are refunded.
        value = payment.fee;
        s.resolverFee = resolverFee;
        s.refund = payment.fee - resolverFee - (feeCount != 0 ? roundFee : 0);
    }

    /// @dev Emits the round's slashes (with why) and, if it resolved, its resolution. `masks`:
    /// the round's committed members in bits 0-7, its revealers in bits 8-15.
    function _announce(
        uint256 taskId,
        uint8 round,
        uint256 masks,
        Verdict memory verdict,
        address[] memory operators,
        uint256[] memory slashed,
        uint256 slashShare,
        uint256 feeEach,
        bytes32 checkpoint
    ) private {
        for (uint256 p; p < operators.length; ++p) {
            if (slashed[p] == 0) continue;
            uint256 bit = 1 << p;
            TrainingSlashReason reason = TrainingSlashReason.Deviated;
            if (verdict.blameMask & bit != 0) {
                reason = TrainingSlashReason.CheckpointWithheld;
            } else if (masks & bit == 0) {
                reason = TrainingSlashReason.NotCommitted;
            } else if ((masks >> 8) & bit == 0) {
                reason = TrainingSlashReason.NotRevealed;
            }
            emit TrainingSlashed(taskId, round, operators[p], slashed[p], reason);
        }
        if (!verdict.resolved) return;
        address[] memory paid = new address[](_popCount(verdict.paidMask));
        uint256 count;
        for (uint256 p; p < operators.length; ++p) {
            if (verdict.paidMask & (1 << p) != 0) paid[count++] = operators[p];
        }
        emit RoundResolved(
            taskId,
            round,
            verdict.digest,
            checkpoint,
            operators[verdict.canonical],
            paid,
            feeEach,
            slashShare,
            verdict.randomness
        );
    }

    /// @dev Registers the final checkpoint as a model derived from the base model (the registry
    /// is the oracle's, a known contract; a refusal is reported, never blocks the task).
    function _register(uint256 taskId, bytes32 checkpoint) private returns (bytes32 modelId) {
        string memory manifest;
        (manifest, modelId) = manifestOf(taskId, checkpoint);
        _trainedModels[taskId] = modelId;
        bytes32 parent = oracle.models().modelIdAt(_cores[taskId].modelIndex);
        bool registered;
        try oracle.models().registerDerivedModel(modelId, parent, manifest) {
            registered = true;
        } catch {
            registered = false;
        }
        emit TrainingCompleted(taskId, modelId, checkpoint, manifest, registered);
    }

    /// @dev Calls a contract requester back with exactly its requested gas (a low-level call: its
    /// failure is recorded, never propagated). Runs after every effect, under the reentrancy lock.
    function _callBack(uint256 taskId, address requester, uint256 gasLimit, bytes memory data)
        private
    {
        if (gasLimit == 0 || requester.code.length == 0) return;
        (bool enough, uint256 available) = ConsumerCallback.hasGasFor(gasLimit);
        if (!enough) revert TrainingInsufficientGasForCallback(available, gasLimit);
        emit TrainingCallbackCompleted(
            taskId, requester, ConsumerCallback.callWithGas(requester, gasLimit, data)
        );
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /// @dev The phase as a pure function of the task's state and the block time.
    function _phase(Core memory core, uint256 members) private view returns (TrainingPhase) {
        TrainingStatus status = core.status;
        if (status == TrainingStatus.None) return TrainingPhase.None;
        if (status > TrainingStatus.Training) return TrainingPhase.Finished;
        if (status == TrainingStatus.Drawing) {
            if (block.timestamp > core.deadline && core.drawBlock < block.number) {
                return TrainingPhase.Resolvable;
            }
            return TrainingPhase.Draw;
        }
        if (members == 0) return TrainingPhase.Resolvable;
        if (block.timestamp > uint256(core.deadline) + _revealWindow) {
            return TrainingPhase.Resolvable;
        }
        if (core.committedMask != _fullMask(core.size) && block.timestamp <= core.deadline) {
            return TrainingPhase.Train;
        }
        // No more commits can come.
        if (_popCount(core.committedMask) < uint256(core.size) / 2 + 1) {
            return TrainingPhase.Resolvable;
        }
        if (
            core.revealedMask == core.committedMask && core.sealBlock != 0
                && core.sealBlock < block.number
        ) return TrainingPhase.Resolvable;
        return TrainingPhase.Reveal;
    }

    function _grantTolerance(uint32 tolerance) private view returns (uint32) {
        if (tolerance == USE_DEFAULT_TOLERANCE) return roundToleranceFloor;
        if (
            !DigestAgreement.withinTolerance(roundToleranceFloor, tolerance)
                || !DigestAgreement.withinTolerance(tolerance, maxRoundTolerance)
        ) revert TrainingInvalidTolerance(tolerance);
        return tolerance;
    }

    /// @dev This round's members' fee: what is escrowed for the members, over the rounds left
    /// (the last round takes the division's remainder).
    function _roundFee(Core memory core, uint256 escrowed) private view returns (uint256) {
        uint256 resolverFee = uint256(core.callbackGasLimit) * _callbackGasPrice;
        return (escrowed - resolverFee) / (uint256(core.rounds) - core.round);
    }

    function _requiredFee(uint256 size, uint256 rounds, uint256 callbackGasLimit)
        private
        view
        returns (uint256)
    {
        return uint256(_minFeePerMember) * size * rounds + callbackGasLimit * _callbackGasPrice;
    }

    function _commitment(uint256 taskId, uint8 round, RoundOpening calldata opening)
        private
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                block.chainid,
                address(this),
                taskId,
                round,
                opening.member,
                opening.digest,
                opening.checkpointSha256,
                opening.salt
            )
        );
    }

    /// @dev The operator at `position` (from the oracle's index table unless `known`).
    function _memberAddress(uint256 members, uint256 position, address known)
        private
        view
        returns (address)
    {
        if (known != address(0)) return known;
        uint256 index = (members >> (INDEX_BITS * position)) & INDEX_MASK;
        if (index == 0) return address(0);
        return ITrainingOracleIndex(address(oracle)).operatorAt(index);
    }

    /// @dev 64 lowercase hex digits, no prefix (as inference/training/spec.py writes hashes).
    function _hex(bytes32 value) private pure returns (string memory) {
        bytes memory prefixed = bytes(Strings.toHexString(uint256(value), 32));
        bytes memory out = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            out[i] = prefixed[i + 2];
        }
        return string(out);
    }

    function _fullMask(uint256 size) private pure returns (uint8) {
        return uint8((1 << size) - 1);
    }

    function _sealKey(uint256 taskId, uint256 position) private pure returns (uint256) {
        return taskId * 8 + position;
    }

    function _roundKey(uint256 taskId, uint256 round) private pure returns (uint256) {
        return taskId * 64 + round;
    }

    function _popCount(uint256 mask) private pure returns (uint256 count) {
        for (; mask != 0; mask &= mask - 1) ++count;
    }
}

/// @dev The oracle's operator table and keeper draw, as this contract uses them.
interface ITrainingOracleIndex {
    function operatorAt(uint256 index) external view returns (address);

    function drawCommittees(uint256 maxTasks) external returns (uint256 drawn);
}
