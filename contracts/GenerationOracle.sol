// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAuditDraws} from "./interfaces/IAuditedTasks.sol";
import {ITrainingDraws} from "./interfaces/ITrainingTasks.sol";
import {IGenerationConsumer} from "./interfaces/IGenerationConsumer.sol";
import {ConsumerCallback} from "./libraries/ConsumerCallback.sol";
import {TolerantMajority} from "./libraries/TolerantMajority.sol";
import {ModelRegistry} from "./models/ModelRegistry.sol";
import {IGenerationOracle} from "./interfaces/IGenerationOracle.sol";
import {IModelRegistry, IModelTermsListener} from "./interfaces/IModelRegistry.sol";
import {OperatorStaking} from "./operators/OperatorStaking.sol";

/// @title GenerationOracle
/// @notice Verifies generative-AI outputs on chain. A requester pays a fee for a generation of a
/// registered deterministic model; a committee of staked operators serving that model is drawn by
/// stake weight from randomness that did not exist when the request was sent; each member commits
/// to and then reveals a locality-sensitive digest of its output; the task resolves to the digest a
/// strict majority agrees with (per-lane Hamming tolerance). Agreeing members share the fee and the
/// slashed stake of the others; requesting contracts are called back.
/// @dev Task lifecycle: Drawing -> (draw) -> Open (commit, reveal) -> Resolved | NoConsensus |
/// Expired. The draw uses the hash of the block that includes the request, which no transaction in
/// that block can know; it is done by {drawCommittees} (keepers, batched), by a member's first
/// {commit}, or by any weight change, which first completes every draw whose randomness exists.
/// Gas layout: a task is two storage words (the hot word with the committee as packed 20-bit
/// operator indices; requester, fee, model); a member's commitment word is overwritten by its
/// digest at reveal and cleared at resolution unless it holds the result (refund).
contract GenerationOracle is IGenerationOracle, OperatorStaking {
    using SafeCast for uint256;

    /// @notice The reserved digest meaning "this input is invalid for this model". It wins only
    /// if every revealed digest is this digest (and they are a majority); otherwise it agrees with
    /// nothing, so members cannot skip the work by claiming an input is invalid.
    bytes32 public constant INVALID_INPUT_DIGEST = keccak256("genoracle.invalid-input");
    /// @notice The protocol version (semver), the genoracle package's version: a client or node
    /// checks it before it relies on the ABI or the rules.
    string public constant VERSION = "0.2.0";
    /// @notice Pass as `tolerance` to use the model's default tolerance (its honest floor).
    uint32 public constant USE_DEFAULT_TOLERANCE = type(uint32).max;
    /// @notice Committees are odd, at least this large (one member verifies nothing).
    uint8 public constant MIN_COMMITTEE_SIZE = 3;
    /// @notice Committees are odd and at most this large.
    uint8 public constant MAX_COMMITTEE_SIZE = 7;
    /// @notice Largest fee a task can escrow (it is packed into 80 bits).
    uint256 public constant MAX_FEE = type(uint80).max;
    /// @notice Bound on `maxCallbackGasLimit`: the per-transaction gas cap (2^24, EIP-7825) minus
    /// a 7-member resolution with room to spare, so a resolution always fits in one transaction.
    uint32 public constant MAX_CALLBACK_GAS_LIMIT = 10_000_000;
    /// @notice At most this many tasks wait for their draw: every weight change completes the
    /// ready ones first, so this bounds what that costs.
    uint256 public constant MAX_PENDING_DRAWS = 16;

    uint256 private constant BPS = 10_000;
    uint256 private constant INDEX_BITS = 20;
    uint256 private constant INDEX_MASK = (1 << 20) - 1;
    /// @dev Committee positions stored in the task's hot word; positions 4..6 go to _committeeHigh.
    uint256 private constant LOW_COMMITTEE_SLOTS = 4;

    /// @dev Word 0 of a task: everything draw, commit, reveal and resolve read and write.
    struct TaskCore {
        uint32 commitDeadline;
        uint32 drawBlock;
        TaskStatus status;
        uint8 size;
        uint8 committedMask; // bit p: member at committee position p committed
        uint8 revealedMask; // bit p: member at committee position p revealed
        uint8 winner; // committee position + 1 of the winning digest, 0 if none
        uint32 tolerance;
        uint24 callbackGasLimit;
        uint80 committee; // operator indices of positions 0..3, 20 bits each; 0 = none drawn
        uint16 modelIndex;
    }

    /// @dev Word 1 of a task.
    struct TaskPayment {
        address requester;
        uint80 fee;
    }

    /// @dev Task ids are sequential; the keepers' scan starts after `drawnThrough`, below which
    /// every task is drawn (a member's commit may draw a later one out of turn).
    struct TaskCounters {
        uint64 taskCount;
        uint64 drawnThrough;
    }

    uint96 private immutable _minFeePerMember;
    uint32 private immutable _commitWindow;
    uint32 private immutable _revealWindow;
    uint16 private immutable _slashDeviationBps;
    uint16 private immutable _slashNoCommitBps;
    uint32 private immutable _maxCallbackGasLimit;
    uint8 private immutable _maxCommitteeSize;
    uint64 private immutable _callbackGasPrice;

    TaskCounters private _counters;
    mapping(uint256 taskId => TaskCore) private _cores;
    mapping(uint256 taskId => TaskPayment) private _payments;
    /// @dev Operator indices of committee positions 4..6 (committees of 5 and 7).
    mapping(uint256 taskId => uint256) private _committeeHigh;
    /// @dev Keyed by taskId * 8 + committee position: the commitment, replaced by the digest at reveal.
    mapping(uint256 sealKey => bytes32) private _seals;

    /// @param initialOwner Owner of the model registry this oracle creates (see {models}); the
    /// oracle itself has no owner.
    /// @param cfg Deployment-time configuration; see {Config}. Requirements: positive stake, fee and
    /// windows; basis points <= 10000; an odd committee bound in 3..7; callback gas within
    /// MAX_CALLBACK_GAS_LIMIT; a nonzero treasury.
    constructor(address initialOwner, Config memory cfg)
        OperatorStaking(
            new ModelRegistry(initialOwner, IModelTermsListener(address(this))),
            cfg.minStake,
            cfg.unbondingDelay,
            cfg.treasury
        )
    {
        if (cfg.minFeePerMember == 0) revert InvalidConfig("minFeePerMember");
        if (cfg.commitWindow == 0) revert InvalidConfig("commitWindow");
        if (cfg.revealWindow == 0) revert InvalidConfig("revealWindow");
        if (cfg.slashDeviationBps > BPS) revert InvalidConfig("slashDeviationBps");
        if (cfg.slashNoCommitBps > BPS) revert InvalidConfig("slashNoCommitBps");
        if (
            cfg.maxCommitteeSize < MIN_COMMITTEE_SIZE || cfg.maxCommitteeSize % 2 == 0
                || cfg.maxCommitteeSize > MAX_COMMITTEE_SIZE
        ) revert InvalidConfig("maxCommitteeSize");
        if (cfg.maxCallbackGasLimit > MAX_CALLBACK_GAS_LIMIT) {
            revert InvalidConfig("maxCallbackGasLimit");
        }
        _minFeePerMember = cfg.minFeePerMember;
        _commitWindow = cfg.commitWindow;
        _revealWindow = cfg.revealWindow;
        _slashDeviationBps = cfg.slashDeviationBps;
        _slashNoCommitBps = cfg.slashNoCommitBps;
        _maxCallbackGasLimit = cfg.maxCallbackGasLimit;
        _maxCommitteeSize = cfg.maxCommitteeSize;
        _callbackGasPrice = cfg.callbackGasPrice;
    }

    // ------------------------------------------------------------------------------------------
    // Tasks
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationOracle
    /// @dev `input` is canonical JSON for the model (emitted, not stored). Nothing is drawn here:
    /// the committee comes from the hash of this request's block, which this transaction cannot
    /// know, so a requester cannot look at its committee and revert. First completes the draws of
    /// earlier blocks. No external call is made (a consumer may request again from its callback).
    /// Requirements: an active model served by at least `committeeSize` drawable operators; an odd
    /// committee size in 3..maxCommitteeSize; `tolerance` USE_DEFAULT_TOLERANCE or between the
    /// model's default (the honest floor) and maximum in every lane; `callbackGasLimit` <=
    /// maxCallbackGasLimit (0 = no callback); `msg.value` >= {requiredFee}; fewer than
    /// MAX_PENDING_DRAWS tasks waiting for their draw.
    function requestGeneration(
        bytes32 modelId,
        bytes calldata input,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256 taskId) {
        if (
            committeeSize < MIN_COMMITTEE_SIZE || committeeSize % 2 == 0
                || committeeSize > _maxCommitteeSize
        ) revert InvalidCommitteeSize(committeeSize);
        if (callbackGasLimit > _maxCallbackGasLimit) {
            revert CallbackGasTooHigh(callbackGasLimit, _maxCallbackGasLimit);
        }
        uint256 required = _requiredFee(committeeSize, callbackGasLimit);
        if (msg.value < required) revert FeeTooLow(msg.value, required);
        if (msg.value > MAX_FEE) revert FeeTooHigh(msg.value, MAX_FEE);
        uint16 modelIndex;
        (modelIndex, tolerance) = _requestTerms(modelId, tolerance, USE_DEFAULT_TOLERANCE);
        uint256 eligible = _poolEligible(modelIndex);
        if (eligible < committeeSize) revert NotEnoughOperators(modelId, eligible, committeeSize);

        (TaskCounters memory counters,) = _drawReady(_counters, type(uint256).max);
        uint256 pending = counters.taskCount - counters.drawnThrough;
        if (pending >= MAX_PENDING_DRAWS) revert DrawBacklogFull(pending);
        taskId = ++counters.taskCount;
        _counters = counters;

        uint32 commitDeadline = (block.timestamp + _commitWindow).toUint32();
        _cores[taskId] = TaskCore({
            commitDeadline: commitDeadline,
            drawBlock: block.number.toUint32(),
            status: TaskStatus.Drawing,
            size: committeeSize,
            committedMask: 0,
            revealedMask: 0,
            winner: 0,
            tolerance: tolerance,
            callbackGasLimit: uint24(callbackGasLimit),
            committee: 0,
            modelIndex: modelIndex
        });
        _payments[taskId] = TaskPayment({
            requester: msg.sender,
            fee: uint80(msg.value) // checked against MAX_FEE
        });
        emit TaskRequested(
            taskId,
            msg.sender,
            modelId,
            input,
            committeeSize,
            tolerance,
            commitDeadline,
            uint64(commitDeadline) + _revealWindow,
            msg.value,
            uint64(block.number)
        );
    }

    /// @notice Draws the committees of the waiting tasks whose randomness exists, oldest first,
    /// looking at most `maxTasks` task ids. Anyone may call (keepers); a member's first {commit}
    /// also draws its task, so no task depends on a keeper. Returns how many tasks were drawn.
    function drawCommittees(uint256 maxTasks) external returns (uint256 drawn) {
        TaskCounters memory before = _counters;
        uint256 waiting = before.taskCount - before.drawnThrough;
        uint256 last = before.drawnThrough + (maxTasks < waiting ? maxTasks : waiting);
        TaskCounters memory counters;
        (counters, drawn) = _drawReady(before, last);
        _counters = counters;
    }

    /// @notice Commits to a digest without revealing it:
    /// `commitment = keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender, digest, salt))`.
    /// Binding the chain, this contract, the task and the operator stops copying and replay.
    /// Draws the task's committee first if nobody has yet (see {committeeOf}).
    /// @dev Requirements: the task is in its commit phase; the caller is a member that has not
    /// committed; a nonzero commitment. Makes no external call (no reentrancy lock needed).
    function commit(uint256 taskId, bytes32 commitment) external {
        TaskCore memory core = _cores[taskId];
        if (core.status == TaskStatus.Drawing) _drawNow(taskId, core);
        _requireOpen(taskId, core);
        if (block.timestamp > core.commitDeadline || core.committee == 0) {
            revert WrongPhase(taskId, _phase(core));
        }
        if (commitment == bytes32(0)) revert ZeroCommitment(taskId);
        uint256 position = _positionOf(taskId, core, msg.sender);
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit != 0) revert AlreadyCommitted(taskId, msg.sender);

        _seals[_sealKey(taskId, position)] = commitment;
        core.committedMask |= bit;
        _cores[taskId] = core;
        emit CommitSubmitted(taskId, msg.sender);
    }

    /// @notice Reveals the digest and salt behind the caller's commitment. The reveal that leaves
    /// no commitment unrevealed (once no more commits can come) resolves the task at once.
    /// @dev Requirements: the task is in its reveal phase (all members committed, or the commit
    /// deadline passed with a majority committed; reveal deadline not passed); the caller
    /// committed and has not revealed; the commitment matches.
    function reveal(uint256 taskId, bytes32 digest, bytes32 salt) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        _requireRevealPhase(taskId, core);
        uint256 position = _positionOf(taskId, core, msg.sender);
        if (core.revealedMask & (1 << position) != 0) revert AlreadyRevealed(taskId, msg.sender);
        uint8 stored = core.revealedMask;
        Reveals memory reveals = _newReveals(core.size);
        _open(taskId, core, position, msg.sender, digest, salt, reveals);
        _afterReveals(taskId, core, reveals, stored);
    }

    /// @notice Reveals several members' commitments in one transaction: the aggregated reveal.
    /// Members hand each other their openings off chain once the commit phase is over (nothing
    /// can be copied then), and one of them submits them all: a task then costs one reveal
    /// transaction instead of one per member. Anyone may submit: every commitment binds its
    /// operator's address, so an opening only counts for the member who committed to it.
    /// Openings of positions already revealed are skipped, so a front-run opening does not sink
    /// the batch.
    /// @dev Requirements: as {reveal}; every opening names a committee position that committed,
    /// with a matching commitment; at least one opening is not revealed yet.
    function revealBatch(uint256 taskId, Opening[] calldata openings) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        _requireRevealPhase(taskId, core);
        if (openings.length == 0) revert NoOpenings(taskId);
        uint256 committee = _committeeWord(taskId, core);
        uint8 before = core.revealedMask;
        Reveals memory reveals = _newReveals(core.size);
        for (uint256 i; i < openings.length; ++i) {
            Opening calldata opening = openings[i];
            uint256 position = opening.position;
            if (position >= core.size) revert InvalidPosition(taskId, position);
            if (core.revealedMask & (1 << position) != 0) continue;
            // The opening names its member; checking it against the committee reads the
            // member's account, which settlement then finds warm.
            address operator = opening.operator;
            if (_accounts[operator].index != _memberIndex(committee, position)) {
                revert NotCommitteeMember(taskId, operator);
            }
            _open(taskId, core, position, operator, opening.digest, opening.salt, reveals);
        }
        if (core.revealedMask == before) revert NothingToReveal(taskId);
        _afterReveals(taskId, core, reveals, before);
    }

    /// @notice Ends a task whose outcome can no longer change: every committed member revealed
    /// after the commit phase, the reveal deadline passed, too few members committed in time, or
    /// no committee could be drawn. Anyone may call. Pays, slashes and refunds by credit; calls a
    /// contract requester back; credits the callback fee to the caller.
    /// @dev Requirements: the task is Resolvable (see {taskPhase}); a Drawing task whose draw
    /// is ready is drawn first.
    function resolve(uint256 taskId) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        if (core.status == TaskStatus.Drawing) _drawNow(taskId, core);
        _requireOpen(taskId, core);
        Phase phase = _phase(core);
        if (phase != Phase.Resolvable) revert WrongPhase(taskId, phase);
        Reveals memory reveals = _newReveals(core.size);
        _loadStoredDigests(taskId, core.revealedMask, reveals);
        _resolve(taskId, core, reveals);
    }

    /// @inheritdoc IGenerationOracle
    /// @dev Requirements: a positive credited balance.
    function claim() external nonReentrant {
        Account storage account = _accounts[msg.sender];
        uint256 amount = account.credit;
        if (amount == 0) revert NothingToClaim(msg.sender);
        account.credit = 0;
        emit BalanceClaimed(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationOracle
    function creditOf(address account) external view returns (uint256) {
        return _accounts[account].credit;
    }

    /// @inheritdoc IGenerationOracle
    function models() external view returns (IModelRegistry) {
        return _models;
    }

    /// @inheritdoc IGenerationOracle
    function config() external view returns (Config memory) {
        return Config({
            minStake: _minStake,
            minFeePerMember: _minFeePerMember,
            commitWindow: _commitWindow,
            revealWindow: _revealWindow,
            unbondingDelay: _unbondingDelay,
            slashDeviationBps: _slashDeviationBps,
            slashNoCommitBps: _slashNoCommitBps,
            maxCallbackGasLimit: _maxCallbackGasLimit,
            maxCommitteeSize: _maxCommitteeSize,
            callbackGasPrice: _callbackGasPrice,
            treasury: _treasury
        });
    }

    /// @inheritdoc IGenerationOracle
    function requiredFee(uint8 committeeSize, uint32 callbackGasLimit)
        external
        view
        returns (uint256)
    {
        return _requiredFee(committeeSize, callbackGasLimit);
    }

    /// @notice Number of tasks ever requested; task ids are 1..taskCount().
    function taskCount() external view returns (uint256) {
        return _counters.taskCount;
    }

    /// @notice Tasks up to this id have been drawn (or found undrawable).
    function drawnThrough() external view returns (uint256) {
        return _counters.drawnThrough;
    }

    /// @notice The committee of task `taskId` and the randomness it is drawn with: the drawn one,
    /// or, for a task still Drawing whose randomness exists, the one the draw will produce (weights
    /// cannot change before it is drawn). Empty while the randomness does not exist yet, or when
    /// no committee can be drawn. Nodes learn from this whether to start work before anyone drew.
    function committeeOf(uint256 taskId)
        external
        view
        returns (address[] memory committee, bytes32 entropy)
    {
        TaskCore memory core = _cores[taskId];
        if (core.status == TaskStatus.None) revert TaskNotFound(taskId);
        if (core.status == TaskStatus.Drawing) {
            if (core.drawBlock >= block.number) return (committee, bytes32(0));
            DrawFailure failure;
            (failure, entropy) = _drawCheck(taskId, core);
            if (failure != DrawFailure.None) return (committee, bytes32(0));
            (, committee) = _drawFromPool(core.modelIndex, entropy, core.size);
            return (committee, entropy);
        }
        if (core.committee == 0) return (committee, bytes32(0));
        uint256 word = _committeeWord(taskId, core);
        committee = new address[](core.size);
        for (uint256 position; position < core.size; ++position) {
            committee[position] = _operatorAt[_memberIndex(word, position)];
        }
        entropy = _drawEntropy(taskId, core.drawBlock);
    }

    /// @notice Everything stored about task `taskId`. While the task is open, `digests` holds
    /// each revealed digest; once it is finished only the result is kept (the others were deleted
    /// for a gas refund and remain in the DigestRevealed events). Operator indices are reused
    /// after an operator withdraws, so for a finished task the CommitteeDrawn event is the record
    /// of who served.
    /// @dev Requirements: the task exists.
    function getTask(uint256 taskId) external view returns (TaskInfo memory info) {
        TaskCore memory core = _cores[taskId];
        if (core.status == TaskStatus.None) revert TaskNotFound(taskId);
        TaskPayment memory payment = _payments[taskId];
        info.requester = payment.requester;
        info.modelId = _models.modelIdAt(core.modelIndex);
        info.status = core.status;
        info.committeeSize = core.size;
        info.tolerance = core.tolerance;
        info.commitDeadline = core.commitDeadline;
        info.revealDeadline = uint64(core.commitDeadline) + _revealWindow;
        info.drawBlock = core.drawBlock;
        info.fee = payment.fee;
        info.callbackGasLimit = core.callbackGasLimit;
        uint256 size = core.committee == 0 ? 0 : core.size;
        uint256 committee = _committeeWord(taskId, core);
        info.committee = new address[](size);
        info.committed = new bool[](size);
        info.revealed = new bool[](size);
        info.digests = new bytes32[](size);
        for (uint256 position; position < size; ++position) {
            info.committee[position] = _operatorAt[_memberIndex(committee, position)];
            info.committed[position] = core.committedMask & (1 << position) != 0;
            info.revealed[position] = core.revealedMask & (1 << position) != 0;
            bool kept = core.status == TaskStatus.Open || position + 1 == core.winner;
            if (info.revealed[position] && kept) {
                info.digests[position] = _seals[_sealKey(taskId, position)];
            }
        }
        if (core.winner != 0) info.result = info.digests[core.winner - 1];
    }

    /// @notice What committee position `position` of an open task stored: its commitment, then
    /// its digest once revealed (zero before it commits). Members check a peer's opening against
    /// it before they submit it in a {revealBatch}.
    function sealOf(uint256 taskId, uint256 position) external view returns (bytes32) {
        return _seals[_sealKey(taskId, position)];
    }

    /// @notice The winning digest of a Resolved task (zero otherwise), for on-chain readers.
    function resultOf(uint256 taskId) external view returns (bytes32) {
        TaskCore memory core = _cores[taskId];
        if (core.winner == 0) return bytes32(0);
        return _seals[_sealKey(taskId, core.winner - 1)];
    }

    /// @notice The phase of task `taskId` at the current block time (None if it does not exist).
    function taskPhase(uint256 taskId) external view returns (Phase) {
        return _phase(_cores[taskId]);
    }

    // ------------------------------------------------------------------------------------------
    // Randomness (replaceable)
    // ------------------------------------------------------------------------------------------

    /// @notice The randomness task `taskId`'s committee is drawn with: the hash of `drawBlock`,
    /// the block that includes the request, mixed with the task id (zero once that block is more
    /// than 256 blocks old: blockhash() reaches no further).
    /// @dev Trust assumption: nobody knows a block's hash before the block is sealed, so no
    /// requester, operator or outsider can see a committee before the request is final, and
    /// weights are frozen from then on (see {_beforeWeightChange}). The builder of the request's
    /// block could grind its contents for a favourable hash; this suffices while steering one
    /// committee is worth less than building blocks honestly. Override with a VRF output (e.g.
    /// delivered to the task before its draw) where it is not, or on chains whose block hashes
    /// are not random.
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

    // ------------------------------------------------------------------------------------------
    // Draws
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc OperatorStaking
    /// @dev Also completes the attached modules' ready draws (AuditedTasks' executors and
    /// auditors, TrainingTasks' committees), whose weights live here too.
    function _beforeWeightChange() internal override {
        (_counters,) = _drawReady(_counters, type(uint256).max);
        // Then the attached modules' hooks, IAuditDraws.drawReadyAudits() and
        // ITrainingDraws.drawReadyTraining(), low-level to keep the oracle within EIP-170 (each
        // selector right-aligned in word 0, the call reads its last 4 bytes). A module not
        // attached is address(0): no code, the call succeeds. If a hook fails, so does the weight
        // change (no draw ever sees a weight changed after its randomness existed).
        uint32 auditHook = uint32(IAuditDraws.drawReadyAudits.selector);
        uint32 trainingHook = uint32(ITrainingDraws.drawReadyTraining.selector);
        assembly ("memory-safe") {
            mstore(0, auditHook)
            if iszero(call(gas(), sload(_auditedTasks.slot), 0, 28, 4, 0, 0)) { revert(0, 0) }
            mstore(0, trainingHook)
            if iszero(call(gas(), sload(_trainingTasks.slot), 0, 28, 4, 0, 0)) { revert(0, 0) }
        }
    }

    /// @dev Draws task `taskId` alone, out of turn (a member's commit, a resolve): the draws do
    /// not change weights, so the order of draws does not matter, only that no weight changed
    /// since the randomness existed. Updates `core` in memory and storage.
    function _drawNow(uint256 taskId, TaskCore memory core) private {
        if (core.drawBlock >= block.number) revert WrongPhase(taskId, Phase.Draw);
        _draw(taskId, core);
    }

    /// @dev Draws, oldest first, the waiting tasks up to id `last` whose randomness exists,
    /// skipping those a commit drew out of turn; stops at the first task not ready yet.
    function _drawReady(TaskCounters memory counters, uint256 last)
        private
        returns (TaskCounters memory, uint256 drawn)
    {
        uint256 next = uint256(counters.drawnThrough) + 1;
        if (last > counters.taskCount) last = counters.taskCount;
        for (; next <= last; ++next) {
            TaskCore memory core = _cores[next];
            if (core.status != TaskStatus.Drawing) continue;
            if (core.drawBlock >= block.number) break;
            _draw(next, core);
            ++drawn;
        }
        counters.drawnThrough = uint64(next - 1);
        return (counters, drawn);
    }

    /// @dev Draws one ready task: Open with its committee, or Open with none (resolvable at once,
    /// refunded) when it cannot be drawn. Updates `core` in memory and storage.
    function _draw(uint256 taskId, TaskCore memory core) private {
        (DrawFailure failure, bytes32 entropy) = _drawCheck(taskId, core);
        core.status = TaskStatus.Open;
        if (failure != DrawFailure.None) {
            _cores[taskId] = core;
            emit CommitteeNotDrawn(taskId, failure);
            return;
        }
        (uint256[] memory indices, address[] memory committee) =
            _drawFromPool(core.modelIndex, entropy, core.size);
        uint256 packed;
        for (uint256 position; position < indices.length; ++position) {
            packed |= indices[position] << (INDEX_BITS * position);
            _accounts[committee[position]].openTasks += 1;
        }
        core.committee = uint80(packed);
        if (core.size > LOW_COMMITTEE_SLOTS) {
            _committeeHigh[taskId] = packed >> (INDEX_BITS * LOW_COMMITTEE_SLOTS);
        }
        _cores[taskId] = core;
        emit CommitteeDrawn(taskId, committee, entropy);
    }

    /// @dev Why a ready task cannot be drawn (None if it can), and its randomness.
    function _drawCheck(uint256 taskId, TaskCore memory core)
        private
        view
        returns (DrawFailure, bytes32 entropy)
    {
        entropy = _drawEntropy(taskId, core.drawBlock);
        if (entropy == bytes32(0)) return (DrawFailure.StaleRandomness, 0);
        if (_poolEligible(core.modelIndex) < core.size) return (DrawFailure.NotEnoughOperators, 0);
        return (DrawFailure.None, entropy);
    }

    // ------------------------------------------------------------------------------------------
    // Reveal and resolution
    // ------------------------------------------------------------------------------------------

    function _requireOpen(uint256 taskId, TaskCore memory core) private view {
        if (core.status == TaskStatus.None) revert TaskNotFound(taskId);
        if (core.status != TaskStatus.Open) revert WrongPhase(taskId, _phase(core));
    }

    function _requireRevealPhase(uint256 taskId, TaskCore memory core) private view {
        _requireOpen(taskId, core);
        Phase phase = _phase(core);
        if (phase != Phase.Reveal) revert WrongPhase(taskId, phase);
    }

    /// @dev What the reveals of one transaction know, by committee position: the digests (every
    /// revealed one, once loaded for resolution) and the members who revealed in it (zero for the
    /// others, read from storage when needed).
    struct Reveals {
        bytes32[] digests;
        address[] members;
    }

    function _newReveals(uint256 size) private pure returns (Reveals memory reveals) {
        reveals.digests = new bytes32[](size);
        reveals.members = new address[](size);
    }

    /// @dev Checks `operator`'s opening at committee `position` and records the reveal in `core`
    /// and `reveals` (nothing is written to storage here).
    function _open(
        uint256 taskId,
        TaskCore memory core,
        uint256 position,
        address operator,
        bytes32 digest,
        bytes32 salt,
        Reveals memory reveals
    ) private {
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit == 0) revert NotCommitted(taskId, operator);
        bytes32 expected =
            keccak256(abi.encode(block.chainid, address(this), taskId, operator, digest, salt));
        if (_seals[_sealKey(taskId, position)] != expected) {
            revert CommitmentMismatch(taskId, operator);
        }
        core.revealedMask |= bit;
        reveals.digests[position] = digest;
        reveals.members[position] = operator;
        emit DigestRevealed(taskId, operator, digest);
    }

    /// @dev After the reveals of one transaction (new digests in `reveals`; `stored` = the
    /// positions revealed before it): resolve if no commitment is left unrevealed and no more
    /// commits can come, else store the new digests over their commitments.
    function _afterReveals(
        uint256 taskId,
        TaskCore memory core,
        Reveals memory reveals,
        uint8 stored
    ) private {
        if (
            core.revealedMask == core.committedMask
                && (core.committedMask == _fullMask(core.size)
                    || block.timestamp > core.commitDeadline)
        ) {
            _loadStoredDigests(taskId, stored, reveals);
            _resolve(taskId, core, reveals);
            return;
        }
        for (uint256 position; position < core.size; ++position) {
            if (core.revealedMask & ~stored & (1 << position) != 0) {
                _seals[_sealKey(taskId, position)] = reveals.digests[position];
            }
        }
        _cores[taskId] = core;
    }

    /// @dev Loads into `reveals` the digests that earlier transactions stored (the positions
    /// in `storedMask`).
    function _loadStoredDigests(uint256 taskId, uint256 storedMask, Reveals memory reveals)
        private
        view
    {
        for (uint256 position; position < reveals.digests.length; ++position) {
            if (storedMask & (1 << position) != 0) {
                reveals.digests[position] = _seals[_sealKey(taskId, position)];
            }
        }
    }

    /// @dev Outcome of a task, computed before any balance moves.
    struct Verdict {
        TaskStatus status;
        FailureReason reason; // why it failed (not Resolved)
        uint256 winner; // committee position of the winning digest (if Resolved)
        bytes32 result; // the winning digest (if Resolved)
        uint256 support;
        uint256 paidMask; // members who share the pool: see _judge
        uint256 sparedMask; // members not slashed (the paid ones, and committers of an expiry)
    }

    /// @dev Resolves, settles and calls back; the callback is the only interaction and comes last.
    /// `digests`: every revealed digest, by committee position.
    function _resolve(uint256 taskId, TaskCore memory core, Reveals memory reveals) private {
        Verdict memory verdict = _judge(core, reveals.digests);
        core.status = verdict.status;
        if (verdict.status == TaskStatus.Resolved) core.winner = uint8(verdict.winner + 1);
        _cores[taskId] = core;
        _keepOnlyResult(taskId, core, verdict, reveals.digests);

        TaskPayment memory payment = _payments[taskId];
        (address[] memory paid, uint256 share) =
            _settle(taskId, core, payment, verdict, reveals.members);
        if (verdict.status == TaskStatus.Resolved) {
            emit TaskResolved(taskId, verdict.result, uint8(verdict.support), paid, share);
        } else {
            emit TaskFailed(taskId, verdict.reason);
        }
        _callBack(taskId, payment.requester, core.callbackGasLimit, verdict);
    }

    /// @dev The tolerant majority over the revealed digests (order-independent: see
    /// TolerantMajority), or why there is none, and who is paid and who is spared:
    /// - Resolved: members whose digest agrees with the result, or with a majority (agreement is
    ///   not transitive: an honest member at the edge of the honest cluster is never slashed).
    /// - Fewer than a majority committed: nobody could reveal, so the members who committed are
    ///   spared, but not paid (a lazy member could commit garbage at the last moment to collect the
    ///   absent members' slashes); those slashes go to the treasury.
    /// - Otherwise (too few reveals, or no consensus): the members who revealed are paid.
    function _judge(TaskCore memory core, bytes32[] memory digests)
        private
        pure
        returns (Verdict memory verdict)
    {
        verdict.status = TaskStatus.Expired;
        verdict.reason = FailureReason.Expired;
        if (core.committee == 0) {
            verdict.reason = FailureReason.NotDrawn;
            return verdict;
        }
        uint256 quorum = uint256(core.size) / 2 + 1;
        if (_popCount(core.committedMask) < quorum) {
            verdict.sparedMask = core.committedMask;
            return verdict;
        }
        verdict.paidMask = core.revealedMask;
        verdict.sparedMask = core.revealedMask;
        if (_popCount(core.revealedMask) < quorum) return verdict;
        TolerantMajority.Outcome memory outcome = TolerantMajority.decide(
            digests, core.revealedMask, core.tolerance, INVALID_INPUT_DIGEST, quorum
        );
        if (outcome.support < quorum) {
            verdict.status = TaskStatus.NoConsensus;
            verdict.reason = FailureReason.NoConsensus;
            return verdict;
        }
        verdict.status = TaskStatus.Resolved;
        verdict.reason = FailureReason.None;
        verdict.winner = outcome.winner;
        verdict.result = digests[outcome.winner];
        verdict.support = outcome.support;
        verdict.paidMask = outcome.agreeMask | outcome.majorityMask;
        verdict.sparedMask = verdict.paidMask;
    }

    /// @dev Deletes every commitment/digest word of the task except the result's (gas refund).
    function _keepOnlyResult(
        uint256 taskId,
        TaskCore memory core,
        Verdict memory verdict,
        bytes32[] memory digests
    ) private {
        bool resolved = verdict.status == TaskStatus.Resolved;
        for (uint256 position; position < core.size; ++position) {
            if (core.committedMask & (1 << position) == 0) continue;
            uint256 key = _sealKey(taskId, position);
            if (resolved && position == verdict.winner) {
                _seals[key] = digests[position];
            } else {
                delete _seals[key];
            }
        }
    }

    /// @dev Slashes, releases assignments and credits, writing each member's account once: on
    /// success the fee and the slashes go to the agreeing members; on failure the fee goes back
    /// to the requester and the slashes go to the members that did their part. The callback fee
    /// goes to whoever sends this transaction. Dust goes to the treasury. Returns the paid
    /// members in committee order and each one's share.
    function _settle(
        uint256 taskId,
        TaskCore memory core,
        TaskPayment memory payment,
        Verdict memory verdict,
        address[] memory known
    ) private returns (address[] memory paid, uint256 share) {
        bool resolved = verdict.status == TaskStatus.Resolved;
        uint256 callbackFee = uint256(core.callbackGasLimit) * _callbackGasPrice;
        uint256 memberFee = payment.fee - callbackFee;
        uint256 pool = resolved ? memberFee : 0;
        uint256 size = core.committee == 0 ? 0 : core.size;
        uint256 committee = _committeeWord(taskId, core);
        paid = new address[](_popCount(verdict.paidMask));
        uint256 paidCount;
        bool drained;
        for (uint256 position; position < size; ++position) {
            address operator = known[position];
            if (operator == address(0)) operator = _operatorAt[_memberIndex(committee, position)];
            uint256 bit = 1 << position;
            _accounts[operator].openTasks -= 1;
            if (verdict.paidMask & bit != 0) {
                paid[paidCount++] = operator; // credited below, once the pool is known
                continue;
            }
            if (verdict.sparedMask & bit != 0) continue;
            (SlashReason reason, uint256 bps) = _slashFor(core, bit);
            uint256 amount = uint256(_accounts[operator].stake) * bps / BPS;
            if (amount == 0) continue;
            if (!drained) {
                _beforeWeightChange();
                drained = true;
            }
            _slash(operator, amount);
            pool += amount;
            emit OperatorSlashed(taskId, operator, amount, reason);
        }
        if (!resolved) _credit(payment.requester, memberFee, true);
        if (callbackFee != 0) _credit(msg.sender, callbackFee, true);
        share = paidCount == 0 ? 0 : pool / paidCount;
        for (uint256 i; i < paidCount; ++i) {
            _credit(paid[i], share, !resolved); // TaskResolved announces the shares
        }
        // The remainder of the integer division is the dust (divide-before-multiply on purpose).
        // slither-disable-next-line divide-before-multiply
        uint256 dust = pool - share * paidCount;
        if (dust != 0) _treasuryBalance += dust;
    }

    /// @dev Why and by how much (basis points) a member outside the paid set is slashed: never
    /// committed; committed but did not reveal although a majority committed (it could have);
    /// revealed a digest the majority disagrees with.
    function _slashFor(TaskCore memory core, uint256 bit)
        private
        view
        returns (SlashReason, uint256)
    {
        if (core.committedMask & bit == 0) return (SlashReason.NotCommitted, _slashNoCommitBps);
        if (core.revealedMask & bit == 0) return (SlashReason.NotRevealed, _slashDeviationBps);
        return (SlashReason.Deviated, _slashDeviationBps);
    }

    /// @dev Calls a contract requester with exactly its requested gas; records, never propagates,
    /// its failure. Runs after every effect, under the caller's reentrancy lock.
    function _callBack(uint256 taskId, address requester, uint256 gasLimit, Verdict memory verdict)
        private
    {
        if (gasLimit == 0 || requester.code.length == 0) return;
        bytes memory data;
        if (verdict.status == TaskStatus.Resolved && verdict.result != INVALID_INPUT_DIGEST) {
            data = abi.encodeCall(IGenerationConsumer.onGenerationVerified, (taskId, verdict.result));
        } else {
            FailureReason reason = verdict.status == TaskStatus.Resolved
                ? FailureReason.InvalidInput
                : verdict.reason;
            data = abi.encodeCall(IGenerationConsumer.onGenerationFailed, (taskId, uint8(reason)));
        }
        (bool enough, uint256 available) = ConsumerCallback.hasGasFor(gasLimit);
        if (!enough) revert InsufficientGasForCallback(available, gasLimit);
        emit CallbackCompleted(
            taskId, requester, ConsumerCallback.callWithGas(requester, gasLimit, data)
        );
    }

    /// @dev Credits `amount` to `account`, with a Credited event unless `announce` is false
    /// (the shares of a resolution, which TaskResolved announces at once).
    function _credit(address account, uint256 amount, bool announce) private {
        if (amount == 0) return;
        Account storage entry = _accounts[account];
        entry.credit = (uint256(entry.credit) + amount).toUint96();
        if (announce) emit Credited(account, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Pure helpers
    // ------------------------------------------------------------------------------------------

    function _requiredFee(uint256 committeeSize, uint256 callbackGasLimit)
        private
        view
        returns (uint256)
    {
        return uint256(_minFeePerMember) * committeeSize + callbackGasLimit * _callbackGasPrice;
    }

    /// @dev The phase as a pure function of the task's state and the block time.
    function _phase(TaskCore memory core) private view returns (Phase) {
        if (core.status == TaskStatus.None) return Phase.None;
        if (core.status == TaskStatus.Drawing) return Phase.Draw;
        if (core.status != TaskStatus.Open) return Phase.Finished;
        if (core.committee == 0) return Phase.Resolvable; // no committee could be drawn
        if (block.timestamp > uint256(core.commitDeadline) + _revealWindow) {
            return Phase.Resolvable;
        }
        bool allCommitted = core.committedMask == _fullMask(core.size);
        if (!allCommitted && block.timestamp <= core.commitDeadline) return Phase.Commit;
        // No more commits can come: resolvable once every commitment is revealed, or at once if
        // too few members committed for a majority (nobody is blamed for that but non-committers).
        if (
            core.revealedMask == core.committedMask
                || _popCount(core.committedMask) < uint256(core.size) / 2 + 1
        ) return Phase.Resolvable;
        return Phase.Reveal;
    }

    /// @dev The committee position of `account` in the task, or a NotCommitteeMember revert.
    function _positionOf(uint256 taskId, TaskCore memory core, address account)
        private
        view
        returns (uint256)
    {
        uint256 index = _accounts[account].index;
        if (index != 0) {
            uint256 committee = _committeeWord(taskId, core);
            for (uint256 position; position < core.size; ++position) {
                if (_memberIndex(committee, position) == index) return position;
            }
        }
        revert NotCommitteeMember(taskId, account);
    }

    /// @dev All committee indices of a task in one word, 20 bits per position.
    function _committeeWord(uint256 taskId, TaskCore memory core) private view returns (uint256) {
        uint256 word = core.committee;
        if (core.size > LOW_COMMITTEE_SLOTS && word != 0) {
            word |= _committeeHigh[taskId] << (INDEX_BITS * LOW_COMMITTEE_SLOTS);
        }
        return word;
    }

    function _memberIndex(uint256 committee, uint256 position) private pure returns (uint256) {
        return (committee >> (INDEX_BITS * position)) & INDEX_MASK;
    }

    function _sealKey(uint256 taskId, uint256 position) private pure returns (uint256) {
        return taskId * 8 + position;
    }

    function _fullMask(uint8 size) private pure returns (uint8) {
        return uint8((1 << size) - 1);
    }

    function _popCount(uint256 mask) private pure returns (uint256 count) {
        for (; mask != 0; mask &= mask - 1) ++count;
    }
}
