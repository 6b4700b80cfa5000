// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IGenerationConsumer} from "./interfaces/IGenerationConsumer.sol";
import {IGenerationOracle} from "./interfaces/IGenerationOracle.sol";
import {DigestAgreement} from "./libraries/DigestAgreement.sol";
import {StakeTree} from "./libraries/StakeTree.sol";

/// @title GenerationOracle
/// @notice Verifies generative-AI outputs on chain. A requester pays a fee for a generation of a
/// registered deterministic model; a committee of staked operators, drawn by stake weight, each
/// commits to and then reveals a locality-sensitive digest of its output; the task resolves to the
/// digest a strict majority agrees with (per-lane Hamming tolerance). Agreeing members share the
/// fee and the slashed stake of the others; requesting contracts are called back.
/// @dev Gas layout: a task is two storage words (everything commit/reveal/resolve need, including
/// the committee as packed 20-bit operator indices; and requester, fee, model); a member's
/// commitment word is overwritten by its digest at reveal, and cleared at resolution unless it
/// holds the result (refund); each operator's stake, credit and open-task count share one word.
/// The reveal that completes the set of commitments resolves the task in the same transaction;
/// {resolve} serves the deadline cases.
contract GenerationOracle is IGenerationOracle, Ownable2Step, ReentrancyGuardTransient {
    using SafeCast for uint256;
    using StakeTree for StakeTree.Tree;

    /// @notice The reserved digest meaning "this input is invalid for this model"; it is agreed
    /// like any other digest, so bad inputs end cleanly and verifiers are still paid.
    bytes32 public constant INVALID_INPUT_DIGEST = keccak256("genoracle.invalid-input");
    /// @notice Pass as `tolerance` to use the model's default tolerance.
    uint32 public constant USE_DEFAULT_TOLERANCE = type(uint32).max;
    /// @notice Committees are odd and at most this large (the committee is packed into one word).
    uint8 public constant MAX_COMMITTEE_SIZE = 7;
    /// @notice Operator indices are 20-bit (the committee packs them).
    uint256 public constant MAX_OPERATORS = (1 << 20) - 1;
    /// @notice Largest fee a task can escrow (it is packed into 80 bits).
    uint256 public constant MAX_FEE = type(uint80).max;
    /// @notice Longest operator endpoint, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    uint256 private constant BPS = 10_000;
    /// @dev Draw weights count stake in gwei, so the tree packs four 64-bit sums per word.
    uint256 private constant WEIGHT_UNIT = 1 gwei;
    uint256 private constant INDEX_BITS = 20;
    uint256 private constant INDEX_MASK = (1 << 20) - 1;
    /// @dev Committee positions stored in the task's hot word; positions 5 and 6 go to _committeeHigh.
    uint256 private constant LOW_COMMITTEE_SLOTS = 5;
    /// @dev Gas kept back when calling a consumer, so the call gets exactly the requested gas.
    uint256 private constant CALLBACK_GAS_RESERVE = 10_000;

    // ------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------

    /// @dev One word per account: what every task touches for its members.
    struct Account {
        uint96 stake;
        uint96 credit;
        uint32 openTasks;
        uint32 index; // 1-based operator index, 0 if the account never registered
    }

    /// @dev Touched only by registration, top-up and exit.
    struct Profile {
        bool registered;
        bool exiting;
        bool paused; // not drawn, by its own choice (see {pauseAssignments})
        uint64 withdrawableAt;
        string endpoint;
    }

    /// @dev One word per operator index: who it is and its weight in the draw, in gwei of stake
    /// (0 = not eligible).
    struct Leaf {
        address operator;
        uint96 weight;
    }

    struct Globals {
        uint32 operatorCount;
        uint32 eligibleCount;
        uint64 taskCount;
        uint128 totalWeight; // sum of leaf weights (gwei), kept below 2^64 for the packed tree
    }

    struct Model {
        bool registered;
        bool active;
        ModelKind kind;
        uint32 defaultTolerance;
        uint32 maxTolerance;
        uint16 index;
        string digestScheme;
        string metadataURI;
    }

    /// @dev Word 0 of a task: everything commit, reveal and resolve read and write. The reveal
    /// deadline is commitDeadline + revealWindow (the window is immutable).
    struct TaskCore {
        uint32 commitDeadline;
        TaskStatus status;
        uint8 size;
        uint8 committedMask; // bit p: member at committee position p committed
        uint8 revealedMask; // bit p: member at committee position p revealed
        uint24 revealOrder; // 3 bits per reveal: committee position of the (r+1)-th reveal
        uint8 winner; // committee position + 1 of the winning digest, 0 if none
        uint32 tolerance;
        uint24 callbackGasLimit;
        uint104 committee; // operator indices of positions 0..4, 20 bits each
    }

    /// @dev Word 1 of a task.
    struct TaskPayment {
        address requester;
        uint80 fee;
        uint16 modelIndex;
    }

    uint96 private immutable _minStake;
    uint96 private immutable _minFeePerMember;
    uint32 private immutable _commitWindow;
    uint32 private immutable _revealWindow;
    uint32 private immutable _unbondingDelay;
    uint16 private immutable _slashDeviationBps;
    uint16 private immutable _slashNoCommitBps;
    uint32 private immutable _maxCallbackGasLimit;
    uint8 private immutable _maxCommitteeSize;
    address private immutable _treasury;

    Globals internal _globals;
    uint256 private _treasuryBalance;
    StakeTree.Tree private _tree;
    mapping(address account => Account) private _accounts;
    mapping(address operator => Profile) private _profiles;
    mapping(uint256 index => Leaf) private _leaves;
    mapping(bytes32 modelId => Model) private _models;
    bytes32[] private _modelIds;
    mapping(uint256 taskId => TaskCore) private _cores;
    mapping(uint256 taskId => TaskPayment) private _payments;
    /// @dev Operator indices of committee positions 5 and 6 (committees of 7 only).
    mapping(uint256 taskId => uint256) private _committeeHigh;
    /// @dev Keyed by taskId * 8 + committee position: the commitment, replaced by the digest at reveal.
    mapping(uint256 sealKey => bytes32) private _seals;

    /// @param initialOwner Owner of the model registry.
    /// @param cfg Deployment-time configuration; see {Config}. Requirements: positive stake, fee and
    /// windows; basis points <= 10000; an odd committee bound in 1..7; a nonzero treasury.
    constructor(address initialOwner, Config memory cfg) Ownable(initialOwner) {
        if (cfg.minStake < WEIGHT_UNIT) revert InvalidConfig("minStake");
        if (cfg.minFeePerMember == 0) revert InvalidConfig("minFeePerMember");
        if (cfg.commitWindow == 0) revert InvalidConfig("commitWindow");
        if (cfg.revealWindow == 0) revert InvalidConfig("revealWindow");
        if (cfg.slashDeviationBps > BPS) revert InvalidConfig("slashDeviationBps");
        if (cfg.slashNoCommitBps > BPS) revert InvalidConfig("slashNoCommitBps");
        if (
            cfg.maxCommitteeSize == 0 || cfg.maxCommitteeSize % 2 == 0
                || cfg.maxCommitteeSize > MAX_COMMITTEE_SIZE
        ) revert InvalidConfig("maxCommitteeSize");
        if (cfg.maxCallbackGasLimit > type(uint24).max) revert InvalidConfig("maxCallbackGasLimit");
        if (cfg.treasury == address(0)) revert InvalidConfig("treasury");
        _minStake = cfg.minStake;
        _minFeePerMember = cfg.minFeePerMember;
        _commitWindow = cfg.commitWindow;
        _revealWindow = cfg.revealWindow;
        _unbondingDelay = cfg.unbondingDelay;
        _slashDeviationBps = cfg.slashDeviationBps;
        _slashNoCommitBps = cfg.slashNoCommitBps;
        _maxCallbackGasLimit = cfg.maxCallbackGasLimit;
        _maxCommitteeSize = cfg.maxCommitteeSize;
        _treasury = cfg.treasury;
    }

    // ------------------------------------------------------------------------------------------
    // Operators
    // ------------------------------------------------------------------------------------------

    /// @notice Registers the caller as an operator staking `msg.value`, reachable at `endpoint`.
    /// @dev Requirements: not registered; `msg.value` >= minStake; endpoint 1..256 bytes.
    /// An operator that withdrew may register again (it keeps its index).
    function register(string calldata endpoint) external payable nonReentrant {
        Profile storage profile = _profiles[msg.sender];
        if (profile.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value < _minStake) revert StakeTooLow(msg.value, _minStake);
        _checkEndpoint(endpoint);

        Account memory account = _accounts[msg.sender];
        Globals memory globals = _globals;
        uint96 stake = msg.value.toUint96();
        uint96 weight = uint96(stake / WEIGHT_UNIT);
        if (account.index == 0) {
            if (globals.operatorCount >= MAX_OPERATORS) revert TooManyOperators(MAX_OPERATORS);
            account.index = ++globals.operatorCount;
            _leaves[account.index] = Leaf({operator: msg.sender, weight: weight});
            _tree.append(account.index, weight);
        } else {
            _leaves[account.index].weight = weight;
            _tree.increase(globals.operatorCount, account.index, weight);
        }
        globals.eligibleCount += 1;
        globals.totalWeight = uint256(globals.totalWeight + weight).toUint64();
        _globals = globals;
        account.stake = stake;
        _accounts[msg.sender] = account;
        profile.registered = true;
        profile.exiting = false;
        profile.paused = false;
        profile.withdrawableAt = 0;
        profile.endpoint = endpoint;
        emit OperatorRegistered(msg.sender, endpoint, stake);
    }

    /// @notice Adds `msg.value` to the caller's stake (also restores eligibility after a slash,
    /// unless the operator paused its assignments).
    /// @dev Requirements: registered, not exiting, `msg.value` > 0.
    function addStake() external payable nonReentrant {
        Profile storage profile = _activeProfile();
        if (msg.value == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint96 newStake = (uint256(account.stake) + msg.value).toUint96();
        account.stake = newStake;
        if (!profile.paused) _setWeight(account.index, _eligibleWeight(newStake));
        emit StakeAdded(msg.sender, msg.value, newStake);
    }

    /// @notice Changes the endpoint at which the caller serves artifacts.
    /// @dev Requirements: registered; endpoint 1..256 bytes.
    function setEndpoint(string calldata endpoint) external {
        Profile storage profile = _profiles[msg.sender];
        if (!profile.registered) revert NotRegistered(msg.sender);
        _checkEndpoint(endpoint);
        profile.endpoint = endpoint;
        emit EndpointUpdated(msg.sender, endpoint);
    }

    /// @notice Stops the caller from being drawn for new committees, without leaving: the way
    /// for a busy operator to drain its open assignments before {requestExit}, or to pause for
    /// maintenance. Tasks already assigned must still be served.
    /// @dev Requirements: registered, not exiting, not already paused.
    function pauseAssignments() external {
        Profile storage profile = _activeProfile();
        if (profile.paused) revert AssignmentsAlreadyPaused(msg.sender);
        profile.paused = true;
        _setWeight(_accounts[msg.sender].index, 0);
        emit AssignmentsPaused(msg.sender);
    }

    /// @notice Makes a paused operator drawable again, with its current stake.
    /// @dev Requirements: registered, not exiting, paused.
    function resumeAssignments() external {
        Profile storage profile = _activeProfile();
        if (!profile.paused) revert AssignmentsNotPaused(msg.sender);
        profile.paused = false;
        Account storage account = _accounts[msg.sender];
        _setWeight(account.index, _eligibleWeight(account.stake));
        emit AssignmentsResumed(msg.sender);
    }

    /// @notice Leaves the operator set: stops the caller from being drawn and starts its
    /// unbonding delay, after which {withdrawStake} pays the stake out.
    /// @dev Requirements: registered, not already exiting, no open assignment (a busy operator
    /// calls {pauseAssignments} first and waits for its tasks to finish), so that every task the
    /// stake answers for is settled before the unbonding clock starts.
    function requestExit() external {
        Profile storage profile = _activeProfile();
        Account storage account = _accounts[msg.sender];
        if (account.openTasks != 0) revert OpenAssignments(msg.sender, account.openTasks);
        uint64 withdrawableAt = uint64(block.timestamp) + _unbondingDelay;
        profile.exiting = true;
        profile.paused = false;
        profile.withdrawableAt = withdrawableAt;
        _setWeight(account.index, 0);
        emit ExitRequested(msg.sender, withdrawableAt);
    }

    /// @notice Pays the caller's whole stake out and deregisters it.
    /// @dev Requirements: exit requested, unbonding delay over, no open assignment. The last
    /// check cannot fail today ({requestExit} needs none open and an exiting operator is not
    /// drawn); it stays so that the stake can never leave while a task may still slash it.
    function withdrawStake() external nonReentrant {
        Profile storage profile = _profiles[msg.sender];
        if (!profile.registered) revert NotRegistered(msg.sender);
        if (!profile.exiting) revert NotExiting(msg.sender);
        if (block.timestamp < profile.withdrawableAt) {
            revert UnbondingNotOver(msg.sender, profile.withdrawableAt);
        }
        Account storage account = _accounts[msg.sender];
        if (account.openTasks != 0) revert OpenAssignments(msg.sender, account.openTasks);
        uint256 amount = account.stake;
        account.stake = 0;
        profile.registered = false;
        profile.exiting = false;
        profile.withdrawableAt = 0;
        emit StakeWithdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
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

    /// @notice Sends the accumulated rounding dust and orphaned slashes to the treasury address.
    /// @dev Anyone may call; the destination is fixed. Requirements: a positive balance.
    function withdrawTreasury() external nonReentrant {
        uint256 amount = _treasuryBalance;
        if (amount == 0) revert NothingToClaim(_treasury);
        _treasuryBalance = 0;
        emit TreasuryWithdrawn(_treasury, amount);
        Address.sendValue(payable(_treasury), amount);
    }

    // ------------------------------------------------------------------------------------------
    // Models
    // ------------------------------------------------------------------------------------------

    /// @notice Registers a model. `modelId` is the sha256 of the model's canonical manifest.
    /// @dev Requirements: owner; new nonzero id; nonempty scheme; every lane threshold <= 64 and
    /// the default's lanes within the maximum's.
    function registerModel(
        bytes32 modelId,
        ModelKind kind,
        string calldata digestScheme,
        uint32 defaultTolerance,
        uint32 maxTolerance,
        string calldata metadataURI
    ) external onlyOwner {
        if (modelId == bytes32(0)) revert InvalidModelId();
        Model storage model = _models[modelId];
        if (model.registered) revert ModelAlreadyRegistered(modelId);
        if (bytes(digestScheme).length == 0) revert InvalidDigestScheme();
        _checkTolerance(maxTolerance);
        if (!_withinTolerance(defaultTolerance, maxTolerance)) {
            revert ToleranceTooHigh(defaultTolerance, maxTolerance);
        }
        model.registered = true;
        model.active = true;
        model.kind = kind;
        model.defaultTolerance = defaultTolerance;
        model.maxTolerance = maxTolerance;
        model.index = _modelIds.length.toUint16();
        model.digestScheme = digestScheme;
        model.metadataURI = metadataURI;
        _modelIds.push(modelId);
        emit ModelRegistered(
            modelId, kind, digestScheme, defaultTolerance, maxTolerance, metadataURI
        );
    }

    /// @notice Allows or stops new requests for a model; open tasks are unaffected.
    /// @dev Requirements: owner; a registered model.
    function setModelActive(bytes32 modelId, bool active) external onlyOwner {
        Model storage model = _models[modelId];
        if (!model.registered) revert UnknownModel(modelId);
        model.active = active;
        emit ModelStatusChanged(modelId, active);
    }

    // ------------------------------------------------------------------------------------------
    // Tasks
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationOracle
    /// @dev `input` is canonical JSON for the model (emitted, not stored). The committee is drawn
    /// now, by stake and without replacement, from {_drawEntropy}. No external call is made, so
    /// no reentrancy lock is needed: a consumer may request again from its callback.
    /// Requirements: an active model; an odd committee size in 1..maxCommitteeSize and no larger
    /// than the eligible operator set; `tolerance` (or USE_DEFAULT_TOLERANCE) within the model's
    /// maximum in every lane; `callbackGasLimit` <= maxCallbackGasLimit (0 = no callback);
    /// `msg.value` >= minFeePerMember * committeeSize.
    function requestGeneration(
        bytes32 modelId,
        bytes calldata input,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256 taskId) {
        uint16 modelIndex;
        (tolerance, modelIndex) = _checkRequest(modelId, committeeSize, tolerance, callbackGasLimit);
        Globals memory globals = _globals;
        if (globals.eligibleCount < committeeSize) {
            revert NotEnoughOperators(globals.eligibleCount, committeeSize);
        }
        taskId = ++globals.taskCount;
        _globals = globals;

        bytes32 entropy = _drawEntropy(taskId);
        (uint256[] memory indices, address[] memory committee) =
            _drawCommittee(entropy, committeeSize, globals);
        for (uint256 i; i < committeeSize; ++i) {
            _accounts[committee[i]].openTasks += 1;
        }

        uint256 packed;
        for (uint256 position; position < committeeSize; ++position) {
            packed |= indices[position] << (INDEX_BITS * position);
        }
        uint32 commitDeadline = (block.timestamp + _commitWindow).toUint32();
        _cores[taskId] = TaskCore({
            commitDeadline: commitDeadline,
            status: TaskStatus.Open,
            size: committeeSize,
            committedMask: 0,
            revealedMask: 0,
            revealOrder: 0,
            winner: 0,
            tolerance: tolerance,
            callbackGasLimit: uint24(callbackGasLimit),
            committee: uint104(packed)
        });
        if (committeeSize > LOW_COMMITTEE_SLOTS) {
            _committeeHigh[taskId] = packed >> (INDEX_BITS * LOW_COMMITTEE_SLOTS);
        }
        _payments[taskId] = TaskPayment({
            requester: msg.sender,
            fee: uint80(msg.value), // checked against MAX_FEE
            modelIndex: modelIndex
        });
        emit TaskRequested(
            taskId,
            msg.sender,
            modelId,
            input,
            committee,
            tolerance,
            commitDeadline,
            commitDeadline + _revealWindow,
            msg.value,
            entropy
        );
    }

    /// @notice Commits to a digest without revealing it:
    /// `commitment = keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender, digest, salt))`.
    /// Binding the chain, this contract, the task and the operator stops copying and replay.
    /// @dev Requirements: the task is in its commit phase; the caller is a member that has not
    /// committed; a nonzero commitment. Makes no external call (no reentrancy lock needed).
    function commit(uint256 taskId, bytes32 commitment) external {
        TaskCore memory core = _cores[taskId];
        _requireOpen(taskId, core);
        if (block.timestamp > core.commitDeadline) revert WrongPhase(taskId, _phase(core));
        if (commitment == bytes32(0)) revert ZeroCommitment(taskId);
        uint256 position = _positionOf(taskId, core, msg.sender);
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit != 0) revert AlreadyCommitted(taskId, msg.sender);

        _seals[_sealKey(taskId, position)] = commitment;
        core.committedMask |= bit;
        _cores[taskId] = core;
        emit CommitSubmitted(taskId, msg.sender);
        if (core.committedMask == _fullMask(core.size)) emit RevealPhaseStarted(taskId);
    }

    /// @notice Reveals the digest and salt behind the caller's commitment. The reveal that leaves
    /// no commitment unrevealed (once no more commits can come) resolves the task at once.
    /// @dev Requirements: the task is in its reveal phase (all members committed or the commit
    /// deadline passed, reveal deadline not passed); the caller committed and has not revealed;
    /// the commitment matches.
    function reveal(uint256 taskId, bytes32 digest, bytes32 salt) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        _requireRevealPhase(taskId, core);
        uint256 position = _positionOf(taskId, core, msg.sender);
        PendingDigests memory pending;
        _open(taskId, core, position, msg.sender, digest, salt, pending);
        _afterReveals(taskId, core, pending);
    }

    /// @notice Reveals several members' commitments in one transaction: the aggregated reveal.
    /// Members hand each other their openings off chain once the commit phase is over (nothing
    /// can be copied then), and one of them submits them all: a task then costs one reveal
    /// transaction instead of one per member. Anyone may submit, since every commitment binds
    /// its operator's address, an opening only counts for the member who committed to it.
    /// @dev Requirements: as {reveal}, for every opening: a committee position of the task that
    /// committed and has not revealed (in this call either), and a matching commitment.
    function revealBatch(uint256 taskId, Opening[] calldata openings) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        _requireRevealPhase(taskId, core);
        if (openings.length == 0) revert NoOpenings(taskId);
        uint256 committee = _committeeWord(taskId, core);
        PendingDigests memory pending;
        for (uint256 i; i < openings.length; ++i) {
            Opening calldata opening = openings[i];
            uint256 position = opening.position;
            if (position >= core.size) revert InvalidPosition(taskId, position);
            address operator = _leaves[_memberIndex(committee, position)].operator;
            _open(taskId, core, position, operator, opening.digest, opening.salt, pending);
        }
        _afterReveals(taskId, core, pending);
    }

    /// @notice Resolves a task whose outcome can no longer change: every committed member revealed
    /// after the commit phase, the reveal deadline passed, or too few members committed in time.
    /// Anyone may call. Pays, slashes and refunds by credit; calls a contract requester back.
    /// @dev Requirements: the task is Resolvable (see {taskPhase}).
    function resolve(uint256 taskId) external nonReentrant {
        TaskCore memory core = _cores[taskId];
        _requireOpen(taskId, core);
        Phase phase = _phase(core);
        if (phase != Phase.Resolvable) revert WrongPhase(taskId, phase);
        PendingDigests memory none;
        _resolve(taskId, core, none);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

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
            treasury: _treasury
        });
    }

    /// @notice Stake, endpoint and status of `operator` (zeroes if it never registered).
    function getOperator(address operator) external view returns (OperatorInfo memory) {
        Profile storage profile = _profiles[operator];
        Account storage account = _accounts[operator];
        return OperatorInfo({
            stake: account.stake,
            endpoint: profile.endpoint,
            active: profile.registered && !profile.exiting && !profile.paused,
            exiting: profile.exiting,
            withdrawableAt: profile.withdrawableAt,
            openTasks: account.openTasks,
            paused: profile.paused
        });
    }

    /// @notice Number of operator indices ever assigned (withdrawn operators keep theirs).
    function operatorCount() external view returns (uint256) {
        return _globals.operatorCount;
    }

    /// @notice Number of operators that can currently be drawn.
    function eligibleOperatorCount() external view returns (uint256) {
        return _globals.eligibleCount;
    }

    /// @notice The operator at 1-based `index` and its weight in the draw: its stake in whole
    /// gwei, or 0 if it cannot be drawn (exiting, withdrawn, or below minStake).
    function operatorAt(uint256 index) external view returns (address operator, uint256 weight) {
        Leaf memory leaf = _leaves[index];
        return (leaf.operator, leaf.weight);
    }

    /// @notice The 1-based operator index of `operator` (0 if it never registered).
    function operatorIndex(address operator) external view returns (uint256) {
        return _accounts[operator].index;
    }

    /// @notice Sum of the draw weights (gwei) of all drawable operators.
    function totalWeight() external view returns (uint256) {
        return _globals.totalWeight;
    }

    /// @inheritdoc IGenerationOracle
    function creditOf(address account) external view returns (uint256) {
        return _accounts[account].credit;
    }

    /// @notice Rounding dust and orphaned slashes waiting for {withdrawTreasury}.
    function treasuryBalance() external view returns (uint256) {
        return _treasuryBalance;
    }

    /// @notice The registered model `modelId`. Requirements: registered.
    function getModel(bytes32 modelId) external view returns (ModelInfo memory) {
        Model storage model = _models[modelId];
        if (!model.registered) revert UnknownModel(modelId);
        return ModelInfo({
            kind: model.kind,
            active: model.active,
            defaultTolerance: model.defaultTolerance,
            maxTolerance: model.maxTolerance,
            digestScheme: model.digestScheme,
            metadataURI: model.metadataURI
        });
    }

    /// @notice Number of registered models.
    function modelCount() external view returns (uint256) {
        return _modelIds.length;
    }

    /// @notice Number of tasks ever requested; task ids are 1..taskCount().
    function taskCount() external view returns (uint256) {
        return _globals.taskCount;
    }

    /// @notice Everything stored about task `taskId`. While the task is open, `digests` holds
    /// each revealed digest; once it is finished only the result is kept (the others were deleted
    /// for a gas refund and remain in the DigestRevealed events).
    /// @dev Requirements: the task exists.
    function getTask(uint256 taskId) external view returns (TaskInfo memory info) {
        TaskCore memory core = _cores[taskId];
        if (core.status == TaskStatus.None) revert TaskNotFound(taskId);
        TaskPayment memory payment = _payments[taskId];
        uint256 size = core.size;
        uint256 committee = _committeeWord(taskId, core);
        info.requester = payment.requester;
        info.modelId = _modelIds[payment.modelIndex];
        info.status = core.status;
        info.committeeSize = core.size;
        info.tolerance = core.tolerance;
        info.commitDeadline = core.commitDeadline;
        info.revealDeadline = uint64(core.commitDeadline) + _revealWindow;
        info.fee = payment.fee;
        info.committee = new address[](size);
        info.committed = new bool[](size);
        info.revealed = new bool[](size);
        info.digests = new bytes32[](size);
        for (uint256 position; position < size; ++position) {
            info.committee[position] = _leaves[_memberIndex(committee, position)].operator;
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

    /// @notice The randomness a task's committee is drawn from.
    /// @dev Default: keccak256(block.prevrandao, taskId). Trust assumption: the block proposer
    /// sees prevrandao before including the request and can, at the cost of its block reward,
    /// withhold the block to re-roll once; requesters cannot predict it more than a block ahead.
    /// This suffices when no single proposer gains more from steering one committee than a
    /// block is worth. Override (e.g. with a VRF result delivered before the draw) where it
    /// does not, or on chains whose prevrandao is not random (some L2s, local dev chains).
    function _drawEntropy(uint256 taskId) internal view virtual returns (bytes32) {
        return keccak256(abi.encode(block.prevrandao, taskId));
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Validates a request; returns the effective tolerance and the model's index.
    function _checkRequest(
        bytes32 modelId,
        uint8 committeeSize,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) private view returns (uint32, uint16) {
        Model storage model = _models[modelId];
        if (!model.registered) revert UnknownModel(modelId);
        if (!model.active) revert ModelInactive(modelId);
        if (committeeSize == 0 || committeeSize % 2 == 0 || committeeSize > _maxCommitteeSize) {
            revert InvalidCommitteeSize(committeeSize);
        }
        uint32 maxTolerance = model.maxTolerance;
        if (tolerance == USE_DEFAULT_TOLERANCE) {
            tolerance = model.defaultTolerance;
        } else if (!_withinTolerance(tolerance, maxTolerance)) {
            revert ToleranceTooHigh(tolerance, maxTolerance);
        }
        if (callbackGasLimit > _maxCallbackGasLimit) {
            revert CallbackGasTooHigh(callbackGasLimit, _maxCallbackGasLimit);
        }
        uint256 required = uint256(_minFeePerMember) * committeeSize;
        if (msg.value < required) revert FeeTooLow(msg.value, required);
        if (msg.value > MAX_FEE) revert FeeTooHigh(msg.value, MAX_FEE);
        return (tolerance, model.index);
    }

    /// @dev Draws `size` distinct operators by stake weight in O(size * log N) storage reads.
    /// Requires `size` <= the number of eligible operators.
    function _drawCommittee(bytes32 entropy, uint256 size, Globals memory globals)
        internal
        view
        returns (uint256[] memory indices, address[] memory operators)
    {
        indices = new uint256[](size);
        operators = new address[](size);
        uint256[] memory weights = new uint256[](size);
        uint256 count = globals.operatorCount;
        uint256 firstStep = StakeTree.topStep(count);
        uint256 remaining = globals.totalWeight;
        for (uint256 drawn; drawn < size; ++drawn) {
            uint256 target = uint256(keccak256(abi.encode(entropy, drawn))) % remaining;
            uint256 index = _tree.find(count, firstStep, target, indices, weights, drawn);
            Leaf memory leaf = _leaves[index];
            indices[drawn] = index;
            weights[drawn] = leaf.weight;
            operators[drawn] = leaf.operator;
            remaining -= leaf.weight;
        }
    }

    /// @dev Digests revealed in the current transaction and not stored (yet): a reveal that
    /// resolves the task never writes them, resolution keeps only the result.
    struct PendingDigests {
        uint256 mask; // bit p: the digest of committee position p is in `digests[p]`
        bytes32[MAX_COMMITTEE_SIZE] digests;
    }

    function _requireRevealPhase(uint256 taskId, TaskCore memory core) private view {
        _requireOpen(taskId, core);
        Phase phase = _phase(core);
        if (phase != Phase.Reveal) revert WrongPhase(taskId, phase);
    }

    /// @dev Checks `operator`'s opening at committee `position` and records the reveal in `core`
    /// and `pending` (nothing is written to storage here).
    function _open(
        uint256 taskId,
        TaskCore memory core,
        uint256 position,
        address operator,
        bytes32 digest,
        bytes32 salt,
        PendingDigests memory pending
    ) private {
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit == 0) revert NotCommitted(taskId, operator);
        if (core.revealedMask & bit != 0) revert AlreadyRevealed(taskId, operator);
        bytes32 expected =
            keccak256(abi.encode(block.chainid, address(this), taskId, operator, digest, salt));
        if (_seals[_sealKey(taskId, position)] != expected) {
            revert CommitmentMismatch(taskId, operator);
        }
        core.revealOrder |= uint24(position << (3 * _popCount(core.revealedMask)));
        core.revealedMask |= bit;
        pending.mask |= bit;
        pending.digests[position] = digest;
        emit DigestRevealed(taskId, operator, digest);
    }

    /// @dev After the reveals of one transaction: resolve if no commitment is left unrevealed
    /// and no more commits can come, else store the new digests over their commitments.
    function _afterReveals(uint256 taskId, TaskCore memory core, PendingDigests memory pending)
        private
    {
        if (
            core.revealedMask == core.committedMask
                && (core.committedMask == _fullMask(core.size)
                    || block.timestamp > core.commitDeadline)
        ) {
            _resolve(taskId, core, pending);
            return;
        }
        for (uint256 position; position < core.size; ++position) {
            if (pending.mask & (1 << position) != 0) {
                _seals[_sealKey(taskId, position)] = pending.digests[position];
            }
        }
        _cores[taskId] = core;
    }

    /// @dev Outcome of a task, computed before any balance moves.
    struct Verdict {
        TaskStatus status;
        uint256 winner; // committee position of the winning digest (if Resolved)
        bytes32 result; // the winning digest (if Resolved)
        uint256 support;
        uint256 paidMask; // members paid: agreeing (Resolved) or revealed (failure)
    }

    /// @dev Resolves, settles and calls back; the callback is the only interaction and comes last.
    /// `pending`: digests revealed in this transaction and not stored.
    function _resolve(uint256 taskId, TaskCore memory core, PendingDigests memory pending)
        private
    {
        Verdict memory verdict = _judge(taskId, core, pending);
        core.status = verdict.status;
        if (verdict.status == TaskStatus.Resolved) core.winner = uint8(verdict.winner + 1);
        _cores[taskId] = core;
        _keepOnlyResult(taskId, core, verdict, pending);

        TaskPayment memory payment = _payments[taskId];
        address[] memory paid = _settle(taskId, core, payment, verdict);
        if (verdict.status == TaskStatus.Resolved) {
            emit TaskResolved(taskId, verdict.result, uint8(verdict.support), paid);
        } else {
            uint8 reason = verdict.status == TaskStatus.NoConsensus
                ? uint8(FailureReason.NoConsensus)
                : uint8(FailureReason.Expired);
            emit TaskFailed(taskId, reason);
        }
        _callBack(taskId, payment.requester, core.callbackGasLimit, verdict);
    }

    /// @dev Tolerant majority over the revealed digests, in reveal order (ties: earliest reveal).
    function _judge(uint256 taskId, TaskCore memory core, PendingDigests memory pending)
        private
        view
        returns (Verdict memory verdict)
    {
        uint256 quorum = uint256(core.size) / 2 + 1;
        uint256 revealCount = _popCount(core.revealedMask);
        verdict.paidMask = core.revealedMask;
        if (revealCount < quorum) {
            verdict.status = TaskStatus.Expired;
            return verdict;
        }
        bytes32[] memory digests = new bytes32[](revealCount);
        for (uint256 rank; rank < revealCount; ++rank) {
            uint256 position = (uint256(core.revealOrder) >> (3 * rank)) & 7;
            digests[rank] = pending.mask & (1 << position) != 0
                ? pending.digests[position]
                : _seals[_sealKey(taskId, position)];
        }
        uint256 bestRank;
        uint256 bestSupport;
        for (uint256 i; i < revealCount; ++i) {
            uint256 support = 1;
            for (uint256 j; j < revealCount; ++j) {
                if (i != j && DigestAgreement.agree(digests[i], digests[j], core.tolerance)) {
                    ++support;
                }
            }
            if (support > bestSupport) {
                bestSupport = support;
                bestRank = i;
            }
        }
        if (bestSupport < quorum) {
            verdict.status = TaskStatus.NoConsensus;
            return verdict;
        }
        verdict.status = TaskStatus.Resolved;
        verdict.winner = (uint256(core.revealOrder) >> (3 * bestRank)) & 7;
        verdict.result = digests[bestRank];
        verdict.support = bestSupport;
        verdict.paidMask = 0;
        for (uint256 rank; rank < revealCount; ++rank) {
            if (DigestAgreement.agree(verdict.result, digests[rank], core.tolerance)) {
                verdict.paidMask |= 1 << ((uint256(core.revealOrder) >> (3 * rank)) & 7);
            }
        }
    }

    /// @dev Deletes every commitment/digest word of the task except the result's (gas refund).
    function _keepOnlyResult(
        uint256 taskId,
        TaskCore memory core,
        Verdict memory verdict,
        PendingDigests memory pending
    ) private {
        bool resolved = verdict.status == TaskStatus.Resolved;
        for (uint256 position; position < core.size; ++position) {
            if (core.committedMask & (1 << position) == 0) continue;
            uint256 key = _sealKey(taskId, position);
            if (resolved && position == verdict.winner) {
                if (pending.mask & (1 << position) != 0) _seals[key] = verdict.result;
            } else {
                delete _seals[key];
            }
        }
    }

    /// @dev Slashes, releases assignments and credits, writing each member's account once: on
    /// success the fee and the slashes go to the agreeing members; on failure the fee goes back
    /// to the requester and the slashes of members that failed to commit or reveal go to those who
    /// revealed. Dust goes to the treasury. Returns the paid members in committee order.
    function _settle(
        uint256 taskId,
        TaskCore memory core,
        TaskPayment memory payment,
        Verdict memory verdict
    ) private returns (address[] memory paid) {
        bool resolved = verdict.status == TaskStatus.Resolved;
        uint256 committee = _committeeWord(taskId, core);
        paid = new address[](_popCount(verdict.paidMask));
        uint256 pool = resolved ? payment.fee : 0;
        uint256 paidCount;
        for (uint256 position; position < core.size; ++position) {
            uint256 index = _memberIndex(committee, position);
            address operator = _leaves[index].operator;
            uint256 bit = 1 << position;
            if (verdict.paidMask & bit != 0) {
                paid[paidCount++] = operator; // credited below, once the pool is known
                continue;
            }
            Account storage account = _accounts[operator];
            (SlashReason reason, uint256 bps) = _slashFor(core, bit, resolved);
            uint256 amount = uint256(account.stake) * bps / BPS;
            uint96 newStake = account.stake - uint96(amount);
            account.stake = newStake;
            account.openTasks -= 1;
            if (amount == 0) continue;
            if (_leaves[index].weight != 0) _setWeight(index, _eligibleWeight(newStake));
            pool += amount;
            emit OperatorSlashed(taskId, operator, amount, uint8(reason));
        }
        if (!resolved) _credit(payment.requester, payment.fee, false);
        uint256 share = paidCount == 0 ? 0 : pool / paidCount;
        for (uint256 i; i < paidCount; ++i) {
            _credit(paid[i], share, true);
        }
        // The remainder of the integer division is the dust (divide-before-multiply on purpose).
        // slither-disable-next-line divide-before-multiply
        uint256 dust = pool - share * paidCount;
        if (dust != 0) _treasuryBalance += dust;
    }

    /// @dev Why and by how much (basis points) a member outside the paid set is slashed.
    function _slashFor(TaskCore memory core, uint256 bit, bool resolved)
        private
        view
        returns (SlashReason, uint256)
    {
        if (core.committedMask & bit == 0) return (SlashReason.NotCommitted, _slashNoCommitBps);
        if (core.revealedMask & bit == 0) return (SlashReason.NotRevealed, _slashDeviationBps);
        if (resolved) return (SlashReason.Deviated, _slashDeviationBps);
        // Revealed, but without consensus there is no one to deviate from.
        return (SlashReason.None, 0);
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
                : verdict.status == TaskStatus.NoConsensus
                    ? FailureReason.NoConsensus
                    : FailureReason.Expired;
            data = abi.encodeCall(IGenerationConsumer.onGenerationFailed, (taskId, uint8(reason)));
        }
        // EIP-150 forwards at most 63/64 of what is left: make sure that is at least `gasLimit`,
        // so a caller cannot make the consumer fail by sending the transaction with too little gas.
        uint256 available = gasleft();
        if (
            available < CALLBACK_GAS_RESERVE
                || available - CALLBACK_GAS_RESERVE - (available - CALLBACK_GAS_RESERVE) / 64
                    < gasLimit
        ) revert InsufficientGasForCallback(available, gasLimit);
        bool success;
        // A low-level call: a revert or out-of-gas in the consumer only sets `success` to false,
        // and its return data is never copied, so a huge one costs us nothing.
        assembly ("memory-safe") {
            success := call(gasLimit, requester, 0, add(data, 0x20), mload(data), 0, 0)
        }
        emit CallbackCompleted(taskId, requester, success);
    }

    /// @dev Credits `amount` to `account`; `releaseAssignment` also ends one open assignment.
    function _credit(address account, uint256 amount, bool releaseAssignment) private {
        Account storage entry = _accounts[account];
        if (releaseAssignment) entry.openTasks -= 1;
        if (amount == 0) return;
        entry.credit = (uint256(entry.credit) + amount).toUint96();
        emit Credited(account, amount);
    }

    /// @dev Sets the draw weight of operator `index`, keeping the tree and the totals in step.
    function _setWeight(uint256 index, uint256 weight) private {
        Leaf storage leaf = _leaves[index];
        uint256 old = leaf.weight;
        if (old == weight) return;
        leaf.weight = uint96(weight);
        Globals memory globals = _globals;
        if (weight > old) {
            _tree.increase(globals.operatorCount, index, weight - old);
            globals.totalWeight = (uint256(globals.totalWeight) + weight - old).toUint64();
            if (old == 0) globals.eligibleCount += 1;
        } else {
            _tree.decrease(globals.operatorCount, index, old - weight);
            globals.totalWeight -= uint128(old - weight);
            if (weight == 0) globals.eligibleCount -= 1;
        }
        _globals = globals;
    }

    /// @dev The draw weight of an active operator with `stake`: its gwei, or 0 below minStake.
    function _eligibleWeight(uint256 stake) private view returns (uint256) {
        return stake >= _minStake ? stake / WEIGHT_UNIT : 0;
    }

    function _requireOpen(uint256 taskId, TaskCore memory core) private view {
        if (core.status == TaskStatus.None) revert TaskNotFound(taskId);
        if (core.status != TaskStatus.Open) revert WrongPhase(taskId, _phase(core));
    }

    /// @dev The phase as a pure function of the task's state and the block time.
    function _phase(TaskCore memory core) private view returns (Phase) {
        if (core.status == TaskStatus.None) return Phase.None;
        if (core.status != TaskStatus.Open) return Phase.Finished;
        if (block.timestamp > uint256(core.commitDeadline) + _revealWindow) {
            return Phase.Resolvable;
        }
        bool allCommitted = core.committedMask == _fullMask(core.size);
        if (!allCommitted && block.timestamp <= core.commitDeadline) return Phase.Commit;
        // No more commits can come: resolvable once every commitment is revealed, or at once if
        // too few members committed for a majority.
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
        if (core.size > LOW_COMMITTEE_SLOTS) {
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

    /// @dev The caller's profile; reverts unless it is a registered operator that is not exiting.
    function _activeProfile() private view returns (Profile storage profile) {
        profile = _profiles[msg.sender];
        if (!profile.registered) revert NotRegistered(msg.sender);
        if (profile.exiting) revert OperatorExiting(msg.sender);
    }

    function _checkEndpoint(string calldata endpoint) private pure {
        uint256 length = bytes(endpoint).length;
        if (length == 0 || length > MAX_ENDPOINT_LENGTH) revert InvalidEndpoint(length);
    }

    /// @dev Every lane threshold must be a possible Hamming distance of a 64-bit lane.
    function _checkTolerance(uint32 tolerance) private pure {
        for (uint256 lane; lane < 4; ++lane) {
            if ((tolerance >> (8 * lane)) & 0xff > 64) revert InvalidTolerance(tolerance);
        }
    }

    /// @dev True iff every lane threshold of `tolerance` is within that of `maxTolerance`.
    function _withinTolerance(uint32 tolerance, uint32 maxTolerance) private pure returns (bool) {
        for (uint256 lane; lane < 4; ++lane) {
            uint256 shift = 8 * lane;
            if ((tolerance >> shift) & 0xff > (maxTolerance >> shift) & 0xff) return false;
        }
        return true;
    }
}
