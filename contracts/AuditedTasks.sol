// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IAuditDraws, IAuditHost, IAuditedTasks} from "./interfaces/IAuditedTasks.sol";
import {IGenerationConsumer} from "./interfaces/IGenerationConsumer.sol";
import {IGenerationOracle} from "./interfaces/IGenerationOracle.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOracleTypes} from "./interfaces/IOracleTypes.sol";
import {ConsumerCallback} from "./libraries/ConsumerCallback.sol";
import {TolerantMajority} from "./libraries/TolerantMajority.sol";

/// @title AuditedTasks
/// @notice The audited mode: one executor generates, a few auditors recompute a challenged part.
/// A task costs about one generation instead of a committee's n.
/// 1. Request (model, input, k auditors in {2, 4}, tolerance, callback gas, fee). The executor is
///    drawn from the hash of the request's block (randomness that did not exist at request time).
/// 2. The executor submits `(resultDigest, evidenceRoot, sketchRoot, leafCount)` before its
///    deadline; `resultDigest` is public at once, unaudited, in {ExecutionSubmitted} (storage keeps
///    one word for the submission: the hash of executor, digest, sketch root and leaf count,
///    {sealOf} position 0, which the opening must match).
/// 3. The auditors (never the executor, without replacement) and the challenge (one leaf of the
///    executor's trees) are drawn from the hash of the submission's block, which the submission
///    cannot know. Auditors fetch the challenged input off chain, recompute that one step, and
///    commit `keccak256(abi.encode(chainid, this, taskId, auditor, digest, salt))`. One leaf, not
///    more: an auditor's compute is then one step and one decode (about 0.1 of a generation), and
///    an executor faking a fraction f of its steps is caught with probability about f while
///    saving f of a generation, so faking never pays while the slash exceeds one generation's
///    cost (README, design choices).
/// 4. Once no more commits can come, auditors reveal and the executor opens its salted sketch of
///    the challenged leaf with its Merkle path against `sketchRoot` (tree as
///    inference/audit/merkle.py builds it: positional, so one leaf per index). Auditors committed
///    before any sketch was opened, so they cannot copy it. The executor's digest is that sketch.
/// 5. The tolerant majority over executor and auditors decides: the executor's result is
///    verified if it is in the majority; otherwise it is slashed and the auditors paid. Auditors
///    who reveal EVIDENCE_WITHHELD_DIGEST, if a majority of the auditors, get the executor
///    slashed. Non-submitters, non-committers and non-revealers are slashed as in the replicated
///    mode; a member who did its part is never slashed because others did not.
/// @dev Why a contract of its own: the oracle is at the EIP-170 size limit. This contract holds
/// the audited tasks and their escrowed fees; the oracle keeps the stakes, credits, pools and
/// treasury, and serves this contract alone through the narrow IAuditHost interface (its
/// OperatorDesk, behind its fallback, attached once by the registry owner). The oracle tells this
/// contract before any weight changes ({drawReadyAudits}), so audited draws use frozen weights
/// like the replicated ones. Balance invariant: this contract's balance equals the fees of its
/// open tasks; the oracle's invariant is unchanged (settlement sends each task's fee over).
/// Fee split on success: the executor, who generated, gets EXECUTOR_FEE_BPS of the members' fee;
/// the agreeing auditors share the rest; slashed stake is shared equally by the paid members.
/// Task ids are above TASK_ID_OFFSET, so they never collide with the oracle's in a consumer, and
/// carry their storage slot: TASK_ID_OFFSET + (number << 32) + slot, `number` counting every
/// request. Slots are reused once their task is over (rewriting a used word costs a fifth of a
/// new one); an id whose slot holds a later task names nothing (status None).
contract AuditedTasks is IAuditedTasks, IAuditDraws, ReentrancyGuardTransient {
    using SafeCast for uint256;

    /// @notice The reserved digest an auditor reveals when the executor did not serve it the
    /// challenged evidence (with valid proofs) in time. A majority of auditors revealing it slashes
    /// the executor; otherwise it agrees with nothing.
    bytes32 public constant EVIDENCE_WITHHELD_DIGEST = keccak256("genoracle.evidence-withheld");
    /// @notice The replicated mode's reserved "this input is invalid for this model" digest. An
    /// executor that refuses the input submits it with no trees (`leafCount` 0) and opens it with
    /// no sketches; each auditor checks the input itself and reveals it too (or
    /// EVIDENCE_WITHHELD_DIGEST if the input is valid: the executor withheld the work). It agrees
    /// only when every revealed digest is it (its revealers are left out of any other vote), so
    /// nobody profits from claiming it, and a requester's invalid input slashes nobody: the task
    /// resolves as invalid input.
    bytes32 internal constant INVALID_INPUT_DIGEST = keccak256("genoracle.invalid-input");
    /// @notice Largest number of auditors (executor + auditors is odd: 2 or 4 auditors).
    uint8 internal constant MAX_AUDITORS = 4;
    /// @notice The executor's share (basis points) of the members' fee of a verified task.
    uint256 internal constant EXECUTOR_FEE_BPS = 5_000;
    /// @notice Audited task ids are TASK_ID_OFFSET + (number << 32) + slot (number 1, 2, ...).
    uint256 public constant TASK_ID_OFFSET = 1 << 128;
    /// @notice Pass as `tolerance` to use the model's audit tolerance (the registry's
    /// `auditToleranceOf`: what honest noise moves a step's sketch by, not the result digest's
    /// tolerance, since the compared digests are step sketches).
    uint32 public constant USE_DEFAULT_TOLERANCE = type(uint32).max;
    /// @notice At most this many draws (of each kind) wait for their randomness (each request
    /// and each submission first completes the ready ones, so this bounds the requests, and the
    /// submissions, of one block).
    uint256 internal constant MAX_PENDING_DRAWS = 10;
    /// @notice Fees are escrowed in whole gwei (see {Payment}).
    uint256 internal constant FEE_UNIT = 1 gwei;
    /// @notice Largest fee a task can escrow (40 bits of gwei: about 1,099 ETH).
    uint256 internal constant MAX_FEE = uint256(type(uint40).max) * FEE_UNIT;

    uint256 private constant BPS = 10_000;
    uint256 private constant SLOT_BITS = 32;
    uint256 private constant SLOT_MASK = (1 << 32) - 1;
    uint256 private constant INDEX_BITS = 20;
    uint256 private constant INDEX_MASK = (1 << 20) - 1;
    /// @dev Flag in `revealedMask`: no auditors could be drawn.
    uint8 private constant NO_AUDITORS = 0x80;
    /// @dev Seal position where a non-final opening keeps the executor's result digest.
    uint256 private constant RESULT_POSITION = 7;

    /// @dev Word 0 of a task slot: what every transaction of the task reads and writes.
    struct Core {
        uint40 number; // the task's number (its id is TASK_ID_OFFSET + number << SLOT_BITS + slot)
        uint32 deadline; // submit deadline (Drawing, Executing), then commit deadline
        // The request's block, then the submission's block; once the auditors are drawn, the
        // challenge seed (32 bits of that block's randomness), because blockhash forgets a block
        // 256 blocks later and an executor that opens after that must still be judged on it.
        uint32 drawBlock;
        AuditStatus status;
        uint8 auditors;
        uint8 committedMask; // bit 0: the executor submitted; bit p: auditor p committed
        uint8 revealedMask; // bit 0: the executor opened; bit p: auditor p revealed
        uint16 modelIndex;
        uint104 members; // operator indices, 20 bits each: 0 executor, 1..auditors; 0 = none
    }

    /// @dev Word 1 of a task slot: who pays, how much is escrowed, and the terms read at
    /// resolution. The fee is kept in gwei (a request carries whole gwei) so that one word holds
    /// them all: one word written per request and read per resolution instead of two.
    struct Payment {
        address requester;
        uint40 feeGwei;
        uint32 tolerance;
        uint24 callbackGasLimit;
    }

    /// @dev Slot bookkeeping and the executors' draw queue, one word. Task slots are reused once
    /// their task is over: a request takes the slot at `cursor` if its task is finished, else a
    /// new one. Draws wait in queues of slots (slot + 1, 16 bits each, MAX_PENDING_DRAWS of
    /// them in a ring from `execHead`), the executors' here, the auditors' in {AuditQueue}: one
    /// word written per request, one per submission.
    struct Counters {
        uint40 taskCount;
        uint16 slotCount;
        uint16 cursor;
        uint8 execHead;
        uint8 execCount;
        uint160 execSlots;
    }

    /// @dev The auditors' draw queue, one word (as the executors').
    struct AuditQueue {
        uint8 head;
        uint8 count;
        uint160 slots;
    }

    /// @notice The oracle whose operators, stakes and credits this contract uses.
    IGenerationOracle public immutable oracle;
    uint96 private immutable _minFeePerMember;
    uint32 private immutable _submitWindow;
    uint32 private immutable _commitWindow;
    uint32 private immutable _revealWindow;
    uint16 private immutable _slashDeviationBps;
    uint16 private immutable _slashNoCommitBps;
    uint32 private immutable _maxCallbackGasLimit;
    uint64 private immutable _callbackGasPrice;
    IModelRegistry private immutable _registry;

    Counters private _counters;
    /// @dev Task storage is keyed by slot, and slots are reused (rewriting a used word costs a
    /// fifth of writing a new one): a finished task's state stays readable until its slot's next
    /// task is requested; its outcome stays in its events (AuditResolved, AuditFailed).
    mapping(uint256 slot => Core) private _cores;
    mapping(uint256 slot => Payment) private _payments;
    /// @dev Keyed by slot * 8 + position. Position 0: keccak256(sketchRoot, leafCount) from the
    /// submission, then the executor's opened digest, then the result once Resolved; positions
    /// 1..k: an auditor's commitment, then its digest; RESULT_POSITION: the result digest.
    mapping(uint256 sealKey => bytes32) private _seals;
    AuditQueue private _auditQueue;

    /// @param oracle_ The GenerationOracle whose configuration (fees, windows, slash rates,
    /// callback bounds) this contract copies; its registry's owner must then attach this contract
    /// (`attachAuditedTasks`) before the first request.
    constructor(IGenerationOracle oracle_) {
        oracle = oracle_;
        IOracleTypes.Config memory cfg = oracle_.config();
        _minFeePerMember = cfg.minFeePerMember;
        _submitWindow = cfg.commitWindow;
        _commitWindow = cfg.commitWindow;
        _revealWindow = cfg.revealWindow;
        _slashDeviationBps = cfg.slashDeviationBps;
        _slashNoCommitBps = cfg.slashNoCommitBps;
        _maxCallbackGasLimit = cfg.maxCallbackGasLimit;
        _callbackGasPrice = cfg.callbackGasPrice;
        _registry = oracle_.models();
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------

    /// @notice Requests an audited generation: one executor, `auditors` auditors.
    /// @dev Nothing is drawn here (the executor comes from this block's hash). No external call
    /// but the oracle's view of the model's terms.
    /// Requirements: `auditors` 2 or 4; an active model served by at least `auditors` + 1
    /// drawable operators, auditable (the registry's `auditToleranceOf`); `tolerance`
    /// USE_DEFAULT_TOLERANCE or every lane between the audit tolerance's and 64;
    /// `callbackGasLimit` <= the oracle's maxCallbackGasLimit; `msg.value` >= {requiredFee},
    /// <= MAX_FEE, in whole gwei; fewer than MAX_PENDING_DRAWS executor draws waiting.
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function requestAudited(
        bytes32 modelId,
        bytes calldata input,
        uint8 auditors,
        uint32 tolerance,
        uint32 callbackGasLimit
    ) external payable returns (uint256 taskId) {
        if (auditors != 2 && auditors != MAX_AUDITORS) revert AuditInvalidAuditors(auditors);
        if (callbackGasLimit > _maxCallbackGasLimit) {
            revert AuditCallbackGasTooHigh(callbackGasLimit, _maxCallbackGasLimit);
        }
        uint256 required = _requiredFee(auditors, callbackGasLimit);
        if (msg.value < required) revert AuditFeeTooLow(msg.value, required);
        if (msg.value > MAX_FEE) revert AuditFeeTooHigh(msg.value, MAX_FEE);
        if (msg.value % FEE_UNIT != 0) revert AuditFeeNotWholeGwei(msg.value);
        (uint16 modelIndex, uint32 granted) = IAuditHost(address(oracle)).auditTerms(
            modelId, tolerance, USE_DEFAULT_TOLERANCE, uint256(auditors) + 1
        );
        Counters memory counters = _counters;
        _drawReadyExecutors(counters);
        uint256 number = ++counters.taskCount;
        uint256 slot = _takeSlot(counters);
        taskId = _taskId(number, slot);
        (counters.execSlots, counters.execCount) =
            _enqueue(counters.execHead, counters.execCount, counters.execSlots, slot);
        _counters = counters;

        uint32 deadline = (block.timestamp + _submitWindow).toUint32();
        _cores[slot] = Core({
            number: uint40(number),
            deadline: deadline,
            drawBlock: block.number.toUint32(),
            status: AuditStatus.Drawing,
            auditors: auditors,
            committedMask: 0,
            revealedMask: 0,
            modelIndex: modelIndex,
            members: 0
        });
        _payments[slot] = Payment({
            requester: msg.sender,
            feeGwei: uint40(msg.value / FEE_UNIT),
            tolerance: granted,
            callbackGasLimit: uint24(callbackGasLimit)
        });
        emit AuditTaskRequested(
            taskId,
            msg.sender,
            modelId,
            input,
            auditors,
            granted,
            deadline,
            msg.value
        );
    }

    /// @notice The executor submits its result digest and the roots of its two trees: the
    /// evidence tree over its intermediate states (emitted, for the auditors) and the salted
    /// sketch tree (opened later), over `leafCount` leaves. Draws the executor first if nobody
    /// has. The digest is public at once, unaudited. An executor that refuses the input submits
    /// INVALID_INPUT_DIGEST with no leaves (the roots are then ignored).
    /// @dev Requirements: the task is waiting for its execution, before its submit deadline; the
    /// caller is its executor; `leafCount` 0 exactly when `resultDigest` is INVALID_INPUT_DIGEST
    /// (AuditInvalidLeafCount otherwise); fewer than MAX_PENDING_DRAWS auditor draws
    /// waiting (those of earlier blocks are completed here first, so only this block's can).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function submitExecution(
        uint256 taskId,
        bytes32 resultDigest,
        bytes32 evidenceRoot,
        bytes32 sketchRoot,
        uint32 leafCount
    ) external {
        Core memory core = _core(taskId);
        address executor;
        if (core.status == AuditStatus.Drawing) executor = _drawExecutorNow(taskId, core, true);
        if (_phase(core) != AuditPhase.Execute) {
            revert AuditWrongPhase(taskId, _phase(core));
        }
        if (msg.sender != _memberAddress(core, 0, executor)) {
            revert AuditNotExecutor(taskId, msg.sender);
        }
        // No trees exactly when the executor refuses the input.
        if ((leafCount == 0) != (resultDigest == INVALID_INPUT_DIGEST)) {
            revert AuditInvalidLeafCount(taskId);
        }
        AuditQueue memory queue = _auditQueue;
        _drawReadyAuditors(queue);
        (queue.slots, queue.count) = _enqueue(queue.head, queue.count, queue.slots, _slot(taskId));
        _auditQueue = queue;

        uint32 commitDeadline = (block.timestamp + _commitWindow).toUint32();
        core.status = AuditStatus.Auditing;
        core.deadline = commitDeadline;
        core.drawBlock = block.number.toUint32();
        core.committedMask = 1;
        _cores[_slot(taskId)] = core;
        // One word seals the submission: the opening repeats it (the digest is in the event).
        _seals[_sealKey(taskId, 0)] = _submissionSeal(msg.sender, resultDigest, sketchRoot, leafCount);
        emit ExecutionSubmitted(
            taskId,
            msg.sender,
            resultDigest,
            evidenceRoot,
            leafCount,
            commitDeadline
        );
    }

    /// @notice Draws the waiting executors and auditors whose randomness exists, oldest first.
    /// Anyone may call (keepers); the executor's submission and the first auditor's commit also
    /// draw their own task.
    /// @dev Requirements: none (a draw that cannot be made marks its task, never reverts).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function drawAudits() external {
        _drawReady();
    }

    /// @inheritdoc IAuditDraws
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function drawReadyAudits() external {
        if (msg.sender != address(oracle)) revert AuditOnlyOracle(msg.sender);
        _drawReady();
    }

    /// @notice An auditor commits to the digest of what it recomputed:
    /// `keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender, digest, salt))`.
    /// Draws the auditors first if nobody has.
    /// @dev Requirements: the task is in its commit phase; the caller is one of its auditors,
    /// at `position` (1..auditors), and has not committed; a nonzero commitment.
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function commitAudit(uint256 taskId, uint8 position, bytes32 commitment) external {
        Core memory core = _core(taskId);
        address known;
        if (_auditorsPending(core)) {
            known = _drawAuditorsNow(taskId, core, position);
        }
        AuditPhase phase = _phase(core);
        if (phase != AuditPhase.Commit) revert AuditWrongPhase(taskId, phase);
        if (commitment == bytes32(0)) revert AuditZeroCommitment(taskId);
        _checkAuditor(taskId, core, position, msg.sender, known);
        uint8 bit = uint8(1 << position);
        if (core.committedMask & bit != 0) revert AuditAlreadyCommitted(taskId, msg.sender);
        _seals[_sealKey(taskId, position)] = _bindCommitter(commitment, msg.sender);
        core.committedMask |= bit;
        _cores[_slot(taskId)] = core;
    }

    /// @notice Reveals auditors' commitments (one or several: auditors hand each other their
    /// openings once the commit phase is over). Anyone may send them: a commitment binds its
    /// auditor. Openings already revealed are skipped. The reveal that completes every opening
    /// (the executor's included) resolves.
    /// @dev Requirements: the task is in its reveal phase; each opening names an auditor who
    /// committed, with a matching commitment; at least one is new.
    function revealAudits(uint256 taskId, AuditOpening[] calldata openings) external nonReentrant {
        Core memory core = _core(taskId);
        _requireRevealPhase(taskId, core);
        uint8 before = core.revealedMask;
        bytes32[] memory digests = new bytes32[](uint256(core.auditors) + 1);
        address[5] memory known;
        _revealOpenings(taskId, core, openings, digests, known);
        if (core.revealedMask == before) revert AuditNothingToReveal(taskId);
        if (core.revealedMask == core.committedMask) {
            _loadDigests(taskId, before, digests);
            _resolve(taskId, core, digests, known, bytes32(0), false);
        } else {
            _storeDigests(taskId, core, digests, known, before);
        }
    }

    /// @notice The executor's sketch of the challenged leaf, opened against its sketch root,
    /// with any auditors' openings (the aggregated reveal: one transaction ends the task). Anyone
    /// may send it: the opening must match the executor's submission.
    /// @dev Requirements: the task is in its reveal phase (every auditor committed, or the commit
    /// deadline passed); not opened yet; `sketchRoot` and `leafCount` as submitted; the sketch,
    /// salted from `secret`, proven at the challenged leaf; auditors' openings as {revealAudits}.
    function openSketches(
        uint256 taskId,
        SketchOpening calldata opening,
        AuditOpening[] calldata openings
    ) external nonReentrant {
        Core memory core = _core(taskId);
        _requireRevealPhase(taskId, core);
        if (core.revealedMask & 1 != 0) revert AuditAlreadyOpened(taskId);
        bytes32 seal = _submissionSeal(
            opening.executor, opening.resultDigest, opening.sketchRoot, opening.leafCount
        );
        if (_seals[_sealKey(taskId, 0)] != seal) revert AuditSubmissionMismatch(taskId);
        uint8 before = core.revealedMask;
        bytes32[] memory digests = new bytes32[](uint256(core.auditors) + 1);
        address[5] memory known;
        known[0] = opening.executor;
        digests[0] = _openedDigest(taskId, core, opening);
        core.revealedMask |= 1;
        _revealOpenings(taskId, core, openings, digests, known);
        if (core.revealedMask == core.committedMask) {
            _loadDigests(taskId, before, digests);
            _resolve(taskId, core, digests, known, opening.resultDigest, true);
        } else {
            // Not the last opening: the result waits in storage for the resolution.
            _seals[_sealKey(taskId, RESULT_POSITION)] = opening.resultDigest;
            _storeDigests(taskId, core, digests, known, before);
        }
    }

    /// @notice Ends a task whose outcome can no longer change (see {getAuditTask}: phase Resolvable): the
    /// executor never submitted, no auditors could be drawn, too few committed, every opening is
    /// in, or the reveal deadline passed. Anyone may call; the callback fee is the caller's.
    /// @dev Requirements: the task is Resolvable (a task whose draw is ready is drawn first).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function resolveAudit(uint256 taskId) external nonReentrant {
        Core memory core = _core(taskId);
        if (core.status == AuditStatus.Drawing && core.drawBlock < block.number) {
            _drawExecutorNow(taskId, core, false);
        }
        if (_auditorsPending(core) && core.drawBlock < block.number) {
            _drawAuditorsNow(taskId, core, 0);
        }
        AuditPhase phase = _phase(core);
        if (phase != AuditPhase.Resolvable) revert AuditWrongPhase(taskId, phase);
        bytes32[] memory digests = new bytes32[](uint256(core.auditors) + 1);
        _loadDigests(taskId, core.revealedMask, digests);
        address[5] memory known;
        _resolve(taskId, core, digests, known, bytes32(0), false);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The fee an audited request must carry: the oracle's minimum per member for the
    /// executor and each auditor, plus the callback gas at the oracle's callback gas price,
    /// rounded up to whole gwei.
    function requiredFee(uint8 auditors, uint32 callbackGasLimit) external view returns (uint256) {
        return _requiredFee(auditors, callbackGasLimit);
    }

    /// @notice Number of task slots ever used (see {taskAt}).
    function slotCount() external view returns (uint256) {
        return _counters.slotCount;
    }

    /// @notice The id of the task that holds (or last held) slot `slot` (zero if none ever did):
    /// with {slotCount}, how to list the open tasks.
    function taskAt(uint256 slot) external view returns (uint256) {
        uint256 number = _cores[slot].number;
        return number == 0 ? 0 : _taskId(number, slot);
    }

    /// @notice The verified result of a Resolved task (zero otherwise), for on-chain readers; the
    /// oracle's INVALID_INPUT_DIGEST for a task resolved as invalid input (check for it).
    function resultOf(uint256 taskId) external view returns (bytes32) {
        if (_core(taskId).status != AuditStatus.Resolved) return bytes32(0);
        return _seals[_sealKey(taskId, 0)];
    }

    /// @notice The task's members (executor first, then the auditors): those drawn, or, for a
    /// draw whose randomness exists but that nobody has made yet, the ones it will produce
    /// (weights are frozen until it is made). Zero entries are not known yet. Nodes learn from
    /// this whether to start work before anyone drew, as with the oracle's `committeeOf`.
    function membersOf(uint256 taskId) external view returns (address[] memory members) {
        Core memory core = _core(taskId);
        if (core.status == AuditStatus.None) revert AuditTaskNotFound(taskId);
        members = new address[](uint256(core.auditors) + 1);
        for (uint256 p; p < members.length; ++p) {
            members[p] = _memberAddress(core, p, address(0));
        }
        bool ready = core.drawBlock < block.number && block.timestamp <= core.deadline;
        bytes32 entropy = ready ? _drawEntropy(taskId, core.drawBlock) : bytes32(0);
        if (entropy == bytes32(0)) return members;
        uint16 modelIndex = core.modelIndex;
        if (core.status == AuditStatus.Drawing) {
            address[] memory drawn =
                IAuditHost(address(oracle)).auditPreview(modelIndex, entropy, 1, address(0));
            if (drawn.length != 0) members[0] = drawn[0];
        } else if (_auditorsPending(core)) {
            address[] memory drawn = IAuditHost(address(oracle)).auditPreview(
                modelIndex, entropy, core.auditors, members[0]
            );
            for (uint256 i; i < drawn.length; ++i) {
                members[i + 1] = drawn[i];
            }
        }
    }

    /// @notice The challenged leaf of a submission of `leafCount` leaves and the seed it is drawn
    /// from, once the auditors' randomness exists (seed 0 before). The same as
    /// inference/audit/challenge.py's `challenge_indices(seed, leafCount, 1)`.
    function challengeOf(uint256 taskId, uint32 leafCount)
        external
        view
        returns (uint256 index, bytes32 seed)
    {
        Core memory core = _core(taskId);
        if (core.status < AuditStatus.Auditing) return (index, seed);
        if (core.members >> INDEX_BITS != 0) {
            seed = bytes32(uint256(core.drawBlock)); // kept by the auditors' draw
        } else if (_auditorsPending(core) && core.drawBlock < block.number) {
            bytes32 entropy = _drawEntropy(taskId, core.drawBlock);
            if (entropy == bytes32(0)) return (index, seed);
            seed = bytes32(uint256(_challengeSeed(entropy))); // what the draw will keep
        } else {
            return (index, seed);
        }
        index = _challenge(seed, leafCount);
    }

    /// @notice Everything stored about an audited task. `members` are the executor (position 0)
    /// and the auditors (empty entries until drawn).
    /// @dev Requirements: the task exists.
    function getAuditTask(uint256 taskId) external view returns (AuditTaskInfo memory info) {
        Core memory core = _core(taskId);
        if (core.status == AuditStatus.None) revert AuditTaskNotFound(taskId);
        Payment memory payment = _payments[_slot(taskId)];
        info.requester = payment.requester;
        info.modelId = _registry.modelIdAt(core.modelIndex);
        info.status = core.status;
        info.phase = _phase(core);
        info.auditors = core.auditors;
        info.tolerance = payment.tolerance;
        info.deadline = core.deadline;
        info.revealDeadline = uint64(core.deadline) + _revealWindow;
        // Once the auditors are drawn the word keeps the challenge seed instead ({challengeOf}).
        info.drawBlock = core.members >> INDEX_BITS == 0 ? core.drawBlock : 0;
        info.fee = uint256(payment.feeGwei) * FEE_UNIT;
        info.callbackGasLimit = payment.callbackGasLimit;
        if (core.status == AuditStatus.Resolved) info.resultDigest = _seals[_sealKey(taskId, 0)];
        uint256 size = uint256(core.auditors) + 1;
        info.members = new address[](size);
        info.committed = new bool[](size);
        info.revealed = new bool[](size);
        for (uint256 p; p < size; ++p) {
            info.members[p] = _memberAddress(core, p, address(0));
            info.committed[p] = core.committedMask & (1 << p) != 0;
            info.revealed[p] = core.revealedMask & (1 << p) != 0;
        }
    }

    /// @notice What position `position` of an open task stored (see the storage layout).
    function sealOf(uint256 taskId, uint256 position) external view returns (bytes32) {
        return _seals[_sealKey(taskId, position)];
    }

    // ------------------------------------------------------------------------------------------
    // Randomness (replaceable)
    // ------------------------------------------------------------------------------------------

    /// @notice The randomness of a task's draw from `drawBlock`: its hash mixed with the task id
    /// (zero once the block is more than 256 blocks old). Same trust assumption as the oracle's
    /// `_drawEntropy` (the block's proposer); override with a VRF where it does not hold.
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

    /// @dev Completes every draw whose randomness exists, executors' and auditors'.
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function _drawReady() private {
        Counters memory counters = _counters;
        _drawReadyExecutors(counters);
        _counters = counters;
        AuditQueue memory queue = _auditQueue;
        _drawReadyAuditors(queue);
        _auditQueue = queue;
    }

    /// @dev Draws, oldest first, the queued executors whose randomness exists, skipping those
    /// drawn out of turn (an entry names a slot: whatever task holds it, if waiting for its
    /// executor with its randomness known, is drawn, which is never wrong); stops at the first
    /// task whose randomness does not exist yet. An emptied queue restarts at its first entry.
    function _drawReadyExecutors(Counters memory counters) private {
        uint256 count = counters.execCount;
        uint256 done;
        for (; done < count; ++done) {
            // Ring positions, not randomness.
            // slither-disable-next-line weak-prng
            uint256 at = (counters.execHead + done) % MAX_PENDING_DRAWS;
            uint256 slot = ((uint256(counters.execSlots) >> (16 * at)) & 0xffff) - 1;
            Core memory core = _cores[slot];
            if (core.status != AuditStatus.Drawing) continue;
            if (core.drawBlock >= block.number) break;
            _drawExecutor(_taskId(core.number, slot), core, false);
        }
        counters.execCount = uint8(count - done);
        // slither-disable-next-line weak-prng
        uint256 next = (counters.execHead + done) % MAX_PENDING_DRAWS;
        counters.execHead = count == done ? 0 : uint8(next);
    }

    /// @dev As {_drawReadyExecutors}, for the auditors' draws.
    function _drawReadyAuditors(AuditQueue memory queue) private {
        uint256 count = queue.count;
        uint256 done;
        for (; done < count; ++done) {
            // slither-disable-next-line weak-prng
            uint256 at = (queue.head + done) % MAX_PENDING_DRAWS;
            uint256 slot = ((uint256(queue.slots) >> (16 * at)) & 0xffff) - 1;
            Core memory core = _cores[slot];
            if (!_auditorsPending(core)) continue;
            if (core.drawBlock >= block.number) break;
            _drawAuditors(_taskId(core.number, slot), core);
        }
        queue.count = uint8(count - done);
        // slither-disable-next-line weak-prng
        uint256 next = (queue.head + done) % MAX_PENDING_DRAWS;
        queue.head = count == done ? 0 : uint8(next);
    }

    /// @dev Appends `slot` to a queue; reverts when MAX_PENDING_DRAWS wait already.
    function _enqueue(uint256 head, uint256 count, uint256 slots, uint256 slot)
        private
        pure
        returns (uint160, uint8)
    {
        if (count >= MAX_PENDING_DRAWS) revert AuditDrawBacklogFull(count);
        // slither-disable-next-line weak-prng
        uint256 at = 16 * ((head + count) % MAX_PENDING_DRAWS);
        slots = (slots & ~(uint256(0xffff) << at)) | ((slot + 1) << at);
        return (uint160(slots), uint8(count + 1));
    }

    /// @dev The id of task `number` in `slot`.
    function _taskId(uint256 number, uint256 slot) private pure returns (uint256) {
        return TASK_ID_OFFSET + (number << SLOT_BITS) + slot;
    }

    /// @dev A slot for a new task: the one at the cursor if its task is over (its words are
    /// rewritten at a fifth of the cost of new ones), else a new slot; the cursor moves on.
    function _takeSlot(Counters memory counters) private view returns (uint256 slot) {
        uint256 count = counters.slotCount;
        slot = counters.cursor;
        if (slot >= count || _cores[slot].status <= AuditStatus.Auditing) {
            slot = count;
            counters.slotCount = (++count).toUint16();
        }
        // slither-disable-next-line weak-prng
        counters.cursor = uint16((counters.cursor + 1) % count);
    }

    /// @dev `quiet`: the executor's own submission draws it, and names it in its own log.
    function _drawExecutorNow(uint256 taskId, Core memory core, bool quiet)
        private
        returns (address)
    {
        if (core.drawBlock >= block.number) revert AuditWrongPhase(taskId, AuditPhase.DrawExecutor);
        return _drawExecutor(taskId, core, quiet);
    }

    /// @dev Draws the executor (Executing), or none (Expired at resolution, refunded); returns it.
    /// A draw after the submit deadline draws nobody: an executor must never be slashed for a
    /// deadline that passed before it was drawn.
    function _drawExecutor(uint256 taskId, Core memory core, bool quiet)
        private
        returns (address)
    {
        bytes32 entropy = _drawEntropy(taskId, core.drawBlock);
        core.status = AuditStatus.Executing;
        if (entropy == bytes32(0) || block.timestamp > core.deadline) {
            _cores[_slot(taskId)] = core;
            emit AuditNotDrawn(taskId, IOracleTypes.DrawFailure.StaleRandomness);
            return address(0);
        }
        (uint256 indices, address[4] memory drawn) =
            IAuditHost(address(oracle)).auditDraw(core.modelIndex, entropy, 1, 0);
        if (indices == 0) {
            _cores[_slot(taskId)] = core;
            emit AuditNotDrawn(taskId, IOracleTypes.DrawFailure.NotEnoughOperators);
            return address(0);
        }
        core.members = uint104(indices);
        _cores[_slot(taskId)] = core;
        if (!quiet) emit ExecutorDrawn(taskId, drawn[0]);
        return drawn[0];
    }

    /// @dev Draws a task's auditors out of turn (the first commit, a resolution); returns the
    /// auditor at `position` (zero if none drawn or position out of range).
    function _drawAuditorsNow(uint256 taskId, Core memory core, uint256 position)
        private
        returns (address)
    {
        if (core.drawBlock >= block.number) revert AuditWrongPhase(taskId, AuditPhase.DrawAuditors);
        address[] memory auditors = _drawAuditors(taskId, core);
        return position >= 1 && position <= auditors.length ? auditors[position - 1] : address(0);
    }

    /// @dev Draws the auditors (never the executor) and the challenge from the hash of the
    /// submission's block. If none can be drawn (too few operators, stale randomness, or past
    /// the commit deadline), the task is resolvable at once: Expired, nobody slashed (_judge).
    function _drawAuditors(uint256 taskId, Core memory core)
        private
        returns (address[] memory auditors)
    {
        bytes32 entropy = _drawEntropy(taskId, core.drawBlock);
        IOracleTypes.DrawFailure failure = IOracleTypes.DrawFailure.StaleRandomness;
        // As for the executor: auditors drawn after the commit deadline could not have committed.
        if (entropy != bytes32(0) && block.timestamp <= core.deadline) {
            (uint256 indices, address[4] memory drawn) = IAuditHost(address(oracle)).auditDraw(
                core.modelIndex, entropy, core.auditors, uint256(core.members) & INDEX_MASK
            );
            if (indices != 0) {
                core.members = uint104(uint256(core.members) | (indices << INDEX_BITS));
                core.drawBlock = _challengeSeed(entropy);
                _cores[_slot(taskId)] = core;
                auditors = new address[](core.auditors);
                for (uint256 i; i < auditors.length; ++i) {
                    auditors[i] = drawn[i];
                }
                emit AuditorsDrawn(taskId, auditors);
                return auditors;
            }
            failure = IOracleTypes.DrawFailure.NotEnoughOperators;
        }
        // No auditors: flag it; the task is resolvable at once, Expired (NotDrawn), nobody slashed.
        core.revealedMask |= NO_AUDITORS;
        _cores[_slot(taskId)] = core;
        emit AuditNotDrawn(taskId, failure);
    }

    // ------------------------------------------------------------------------------------------
    // Reveals and resolution
    // ------------------------------------------------------------------------------------------

    function _requireRevealPhase(uint256 taskId, Core memory core) private view {
        AuditPhase phase = _phase(core);
        if (phase != AuditPhase.Reveal) revert AuditWrongPhase(taskId, phase);
    }

    /// @dev Checks the auditors' openings and records them in `core` and `digests`.
    function _revealOpenings(
        uint256 taskId,
        Core memory core,
        AuditOpening[] calldata openings,
        bytes32[] memory digests,
        address[5] memory known
    ) private {
        for (uint256 i; i < openings.length; ++i) {
            AuditOpening calldata opening = openings[i];
            uint256 position = opening.position;
            if (position == 0 || position > core.auditors) {
                revert AuditNotAuditor(taskId, opening.auditor);
            }
            uint8 bit = uint8(1 << position);
            if (core.revealedMask & bit != 0) continue;
            if (core.committedMask & bit == 0) revert AuditNotCommitted(taskId, opening.auditor);
            // The seal binds the commitment to the auditor who committed it at this position
            // (checked at commit), and the commitment binds the auditor named in the opening:
            // an opening counts only for the auditor who committed at this position, so a
            // commitment copied from another auditor's transaction opens under neither name.
            bytes32 expected = _bindCommitter(
                _auditCommitment(taskId, opening.auditor, opening.digest, opening.salt),
                opening.auditor
            );
            if (_seals[_sealKey(taskId, position)] != expected) {
                revert AuditCommitmentMismatch(taskId, opening.auditor);
            }
            core.revealedMask |= bit;
            digests[position] = opening.digest;
            known[position] = opening.auditor;
        }
    }

    /// @dev Not every committed member has revealed yet: stores the new digests over their
    /// commitments (the executor's over its submission seal).
    function _storeDigests(
        uint256 taskId,
        Core memory core,
        bytes32[] memory digests,
        address[5] memory known,
        uint8 stored
    ) private {
        for (uint256 p; p < digests.length; ++p) {
            if (core.revealedMask & ~uint256(stored) & (1 << p) != 0) {
                _seals[_sealKey(taskId, p)] = digests[p];
                if (p == 0) emit SketchesOpened(taskId, digests[0]);
                else emit AuditRevealed(taskId, known[p], digests[p]);
            }
        }
        _cores[_slot(taskId)] = core;
    }

    function _loadDigests(uint256 taskId, uint256 storedMask, bytes32[] memory digests)
        private
        view
    {
        for (uint256 p; p < digests.length; ++p) {
            if (storedMask & (1 << p) != 0) digests[p] = _seals[_sealKey(taskId, p)];
        }
    }

    /// @dev Outcome of a task, computed before any balance moves.
    struct Verdict {
        AuditStatus status;
        AuditFailure reason;
        uint256 support;
        uint256 paidMask; // members who share the slashes (and, if Resolved, the fee)
        uint256 sparedMask; // members not slashed
        AuditSlashReason executorBlame; // why the executor is slashed if it is not spared
    }

    /// @dev The verdict (see the contract's NatSpec):
    /// - no executor, no submission, or no auditors drawn: Expired; only a drawn executor that
    ///   did not submit is slashed (the no-commit rate);
    /// - fewer than a majority committed: Expired; committers spared, unpaid;
    /// - a majority of the auditors revealed EVIDENCE_WITHHELD_DIGEST: Rejected, executor
    ///   slashed, those auditors paid, the other revealing auditors spared;
    /// - fewer than a majority revealed, or no tolerant majority: failed, revealers paid;
    /// - a tolerant majority with the executor in it: Resolved; without: Rejected.
    function _judge(Core memory core, uint32 tolerance, bytes32[] memory digests)
        private
        view
        returns (Verdict memory verdict)
    {
        verdict.status = AuditStatus.Expired;
        verdict.reason = AuditFailure.Expired;
        uint256 auditorsMask = ((1 << (uint256(core.auditors) + 1)) - 1) & ~uint256(1);
        if (core.members == 0) {
            verdict.reason = AuditFailure.NotDrawn;
            return verdict;
        }
        if (core.committedMask & 1 == 0) {
            verdict.reason = AuditFailure.NotSubmitted;
            verdict.sparedMask = auditorsMask; // never drawn
            verdict.executorBlame = AuditSlashReason.NotSubmitted;
            return verdict;
        }
        if (core.revealedMask & NO_AUDITORS != 0) {
            verdict.reason = AuditFailure.NotDrawn; // no auditors could be drawn
            verdict.sparedMask = 1;
            return verdict;
        }
        uint256 size = uint256(core.auditors) + 1;
        uint256 quorum = size / 2 + 1;
        if (_popCount(core.committedMask) < quorum) {
            verdict.sparedMask = core.committedMask;
            return verdict;
        }
        uint256 withheldMask;
        uint256 invalidMask;
        for (uint256 p; p < size; ++p) {
            if (core.revealedMask & (1 << p) == 0) continue;
            if (p != 0 && digests[p] == EVIDENCE_WITHHELD_DIGEST) withheldMask |= 1 << p;
            if (digests[p] == INVALID_INPUT_DIGEST) invalidMask |= 1 << p;
        }
        if (_popCount(withheldMask) >= uint256(core.auditors) / 2 + 1) {
            verdict.status = AuditStatus.Rejected;
            verdict.reason = AuditFailure.EvidenceWithheld;
            verdict.paidMask = withheldMask;
            verdict.sparedMask = core.revealedMask & ~uint256(1);
            verdict.executorBlame = AuditSlashReason.EvidenceWithheld;
            return verdict;
        }
        verdict.paidMask = core.revealedMask;
        verdict.sparedMask = core.revealedMask;
        verdict.executorBlame = AuditSlashReason.NotRevealed;
        if (_popCount(core.revealedMask) < quorum) return verdict;
        // The invalid-input digest agrees only when every revealed digest is it (the replicated
        // rule): otherwise its revealers are left out of the vote, so a refusal copied by a lazy
        // auditor is no majority. It is public once submitted, unlike an executor's sketches.
        uint256 voters = core.revealedMask;
        if (invalidMask != voters) voters &= ~invalidMask;
        TolerantMajority.Outcome memory outcome = TolerantMajority.decide(
            digests, voters, tolerance, EVIDENCE_WITHHELD_DIGEST, quorum
        );
        if (outcome.support < quorum) {
            verdict.status = AuditStatus.NoConsensus;
            verdict.reason = AuditFailure.NoConsensus;
            return verdict;
        }
        verdict.support = outcome.support;
        verdict.paidMask = outcome.agreeMask | outcome.majorityMask;
        verdict.sparedMask = verdict.paidMask;
        if (verdict.paidMask & 1 != 0) {
            verdict.status = AuditStatus.Resolved;
            verdict.reason = AuditFailure.None;
        } else {
            verdict.status = AuditStatus.Rejected;
            verdict.reason = AuditFailure.ExecutorOutvoted;
            if (core.revealedMask & 1 != 0) verdict.executorBlame = AuditSlashReason.Deviated;
        }
    }

    /// @dev Judges, settles through the oracle, emits, calls back (last).
    // Calls go only to the immutable oracle (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    /// `result`: the executor's result digest if `haveResult` (its opening is in this
    /// transaction), else read from storage where its earlier opening left it.
    function _resolve(
        uint256 taskId,
        Core memory core,
        bytes32[] memory digests,
        address[5] memory known,
        bytes32 result,
        bool haveResult
    ) private {
        Payment memory payment = _payments[_slot(taskId)];
        Verdict memory verdict = _judge(core, payment.tolerance, digests);
        // The slot's words are left as they are (the next task rewrites them), but the result:
        // position 0 keeps it while the slot holds the task ({resultOf}).
        if (verdict.status == AuditStatus.Resolved) {
            if (!haveResult) result = _seals[_sealKey(taskId, RESULT_POSITION)];
            _seals[_sealKey(taskId, 0)] = result;
        } else {
            result = bytes32(0);
        }
        core.status = verdict.status;
        _cores[_slot(taskId)] = core;

        uint256 fee = uint256(payment.feeGwei) * FEE_UNIT;
        (IAuditHost.Settlement memory settlement, bool slashes) =
            _settlement(core, payment, fee, verdict);
        settlement.known = known;
        if (slashes) {
            // Frozen weights: every draw whose randomness exists, here and in the oracle, is
            // completed before a slash changes a weight.
            _drawReady();
            // slither-disable-next-line unused-return
            IOperatorIndex(address(oracle)).drawCommittees(type(uint256).max);
        }
        // The fee goes to the oracle (immutable), which credits it (see contracts/SLITHER.md).
        // slither-disable-next-line arbitrary-send-eth
        (address[5] memory operators, uint256[5] memory slashed, uint256 slashShare) =
            IAuditHost(address(oracle)).auditSettle{value: fee}(settlement);
        _announce(
            taskId, core, verdict, settlement, operators, slashed, slashShare, result, digests
        );
        _callBack(taskId, payment.requester, payment.callbackGasLimit, verdict, result);
    }

    /// @dev Who is slashed by how much, and who is credited what.
    function _settlement(
        Core memory core,
        Payment memory payment,
        uint256 fee,
        Verdict memory verdict
    )
        private
        view
        returns (IAuditHost.Settlement memory s, bool slashes)
    {
        uint256 size = uint256(core.auditors) + 1;
        s.members = core.members;
        s.size = size;
        s.paidMask = verdict.paidMask;
        s.requester = payment.requester;
        s.resolver = msg.sender;
        s.resolverFee = uint256(payment.callbackGasLimit) * _callbackGasPrice;
        uint256 memberFee = fee - s.resolverFee;
        for (uint256 p; p < size; ++p) {
            uint256 bit = 1 << p;
            if (verdict.sparedMask & bit != 0 || (s.members >> (INDEX_BITS * p)) & INDEX_MASK == 0)
            {
                continue;
            }
            uint256 bps = _slashDeviationBps;
            if (p == 0) {
                if (verdict.executorBlame == AuditSlashReason.NotSubmitted) bps = _slashNoCommitBps;
            } else if (core.committedMask & bit == 0) {
                bps = _slashNoCommitBps;
            }
            s.slashBps |= bps << (16 * p);
            if (bps != 0) slashes = true;
        }
        if (verdict.status != AuditStatus.Resolved) {
            s.refund = memberFee;
            return (s, slashes);
        }
        s.executorFee = memberFee * EXECUTOR_FEE_BPS / BPS;
        uint256 paidAuditors = _popCount(verdict.paidMask & ~uint256(1));
        s.auditorFee = (memberFee - s.executorFee) / paidAuditors;
    }

    function _announce(
        uint256 taskId,
        Core memory core,
        Verdict memory verdict,
        IAuditHost.Settlement memory settlement,
        address[5] memory operators,
        uint256[5] memory slashed,
        uint256 slashShare,
        bytes32 result,
        bytes32[] memory digests
    ) private {
        uint256 size = settlement.size;
        for (uint256 p; p < size; ++p) {
            if (slashed[p] == 0) continue;
            AuditSlashReason reason = AuditSlashReason.Deviated;
            if (p == 0) {
                reason = verdict.executorBlame;
            } else if (core.committedMask & (1 << p) == 0) {
                reason = AuditSlashReason.NotCommitted;
            } else if (core.revealedMask & (1 << p) == 0) {
                reason = AuditSlashReason.NotRevealed;
            }
            emit AuditSlashed(taskId, operators[p], slashed[p], reason);
        }
        if (verdict.status != AuditStatus.Resolved) {
            emit AuditFailed(taskId, verdict.reason, digests);
            return;
        }
        emit AuditResolved(
            taskId,
            result,
            uint8(verdict.support),
            uint8(verdict.paidMask),
            settlement.executorFee,
            settlement.auditorFee,
            slashShare,
            digests
        );
    }

    /// @dev Calls a contract requester back with exactly its requested gas (try/catch semantics
    /// by a low-level call; its failure is recorded, never propagated). Runs after every effect,
    /// under the reentrancy lock.
    function _callBack(
        uint256 taskId,
        address requester,
        uint256 gasLimit,
        Verdict memory verdict,
        bytes32 result
    ) private {
        if (gasLimit == 0 || requester.code.length == 0) return;
        bytes memory data;
        if (verdict.status == AuditStatus.Resolved && result != INVALID_INPUT_DIGEST) {
            data = abi.encodeCall(IGenerationConsumer.onGenerationVerified, (taskId, result));
        } else {
            IOracleTypes.FailureReason reason = IOracleTypes.FailureReason.NoConsensus;
            if (verdict.status == AuditStatus.Resolved) {
                reason = IOracleTypes.FailureReason.InvalidInput; // resolved as invalid input
            } else if (verdict.reason == AuditFailure.NotDrawn) {
                reason = IOracleTypes.FailureReason.NotDrawn;
            } else if (
                verdict.reason == AuditFailure.Expired || verdict.reason == AuditFailure.NotSubmitted
            ) {
                reason = IOracleTypes.FailureReason.Expired;
            }
            data = abi.encodeCall(IGenerationConsumer.onGenerationFailed, (taskId, uint8(reason)));
        }
        (bool enough, uint256 available) = ConsumerCallback.hasGasFor(gasLimit);
        if (!enough) revert AuditInsufficientGasForCallback(available, gasLimit);
        emit AuditCallbackCompleted(
            taskId, requester, ConsumerCallback.callWithGas(requester, gasLimit, data)
        );
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /// @dev The executor's digest: the sketch of the challenged leaf, salted and proven at its
    /// position under the submitted sketch root; for a refused input (no leaves: the seal binds
    /// that to INVALID_INPUT_DIGEST) that digest.
    function _openedDigest(uint256 taskId, Core memory core, SketchOpening calldata opening)
        private
        pure
        returns (bytes32)
    {
        if (opening.leafCount == 0) return INVALID_INPUT_DIGEST;
        // The auditors are drawn (a reveal phase): the word keeps the challenge seed.
        uint256 index = _challenge(bytes32(uint256(core.drawBlock)), opening.leafCount);
        bytes32 leaf = _sketchLeaf(index, opening.sketch, opening.secret);
        if (!_proves(index, leaf, opening.leafCount, opening.proof, opening.sketchRoot)) {
            revert AuditInvalidProof(taskId);
        }
        return opening.sketch;
    }

    /// @dev Whether `node` is leaf `index` of the tree of `n` leaves with root `root`, given its
    /// path's siblings from the leaf up (`proof`: one per level where the node has a sibling; the
    /// odd node at the end of a level moves up unpaired), every one used. Inner nodes hash the
    /// left child before the right (inference/audit/merkle.py), so the path fixes the position:
    /// a tree cannot hold two leaves that both prove for one index.
    function _proves(uint256 index, bytes32 node, uint256 n, bytes32[] calldata proof, bytes32 root)
        private
        pure
        returns (bool valid)
    {
        assembly ("memory-safe") {
            let used := 0
            for {} gt(n, 1) { n := shr(1, add(n, 1)) } {
                // The sibling's index is index xor 1 (not an exponent).
                // slither-disable-next-line incorrect-exp
                if lt(xor(index, 1), n) {
                    // Past the end reads zeros; `used` then exceeds the length: refused.
                    let sibling := calldataload(add(proof.offset, shl(5, used)))
                    used := add(used, 1)
                    // The node's side: left (first) when its index is even.
                    let side := shl(5, and(index, 1))
                    mstore(side, node)
                    mstore(xor(side, 0x20), sibling)
                    node := keccak256(0x00, 0x40)
                }
                index := shr(1, index)
            }
            valid := and(eq(used, proof.length), eq(node, root))
        }
    }

    /// @dev The sketch tree's leaf at `index` (inference/audit/merkle.py): keccak256 of
    /// keccak256(abi.encode(index, keccak256(abi.encode(sketch, salt)))), where the leaf's salt
    /// is keccak256(abi.encode(secret, index)) (merkle.py `leaf_salt`): the opening carries one
    /// secret instead of a salt per leaf.
    function _sketchLeaf(uint256 index, bytes32 sketch, bytes32 secret)
        private
        pure
        returns (bytes32 leaf)
    {
        assembly ("memory-safe") {
            mstore(0x00, secret)
            mstore(0x20, index)
            mstore(0x20, keccak256(0x00, 0x40))
            mstore(0x00, sketch)
            mstore(0x20, keccak256(0x00, 0x40))
            mstore(0x00, index)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev The executor's submission seal: keccak256(abi.encode(executor, resultDigest,
    /// sketchRoot, leafCount)).
    function _submissionSeal(
        address executor,
        bytes32 resultDigest,
        bytes32 sketchRoot,
        uint256 leafCount
    ) private pure returns (bytes32 seal) {
        assembly ("memory-safe") {
            let free := mload(0x40)
            mstore(free, executor)
            mstore(add(free, 0x20), resultDigest)
            mstore(add(free, 0x40), sketchRoot)
            mstore(add(free, 0x60), leafCount)
            seal := keccak256(free, 0x80)
        }
    }

    /// @dev An auditor's commitment: keccak256(abi.encode(block.chainid, address(this), taskId,
    /// auditor, digest, salt)).
    /// @dev What a commit stores: the commitment bound to the auditor who sent it.
    function _bindCommitter(bytes32 commitment, address auditor) private pure returns (bytes32) {
        return keccak256(abi.encode(commitment, auditor));
    }

    function _auditCommitment(uint256 taskId, address auditor, bytes32 digest, bytes32 salt)
        private
        view
        returns (bytes32 commitment)
    {
        assembly ("memory-safe") {
            let free := mload(0x40)
            mstore(free, chainid())
            mstore(add(free, 0x20), address())
            mstore(add(free, 0x40), taskId)
            mstore(add(free, 0x60), auditor)
            mstore(add(free, 0x80), digest)
            mstore(add(free, 0xa0), salt)
            commitment := keccak256(free, 0xc0)
        }
    }

    /// @dev The challenge seed from the auditors' draw randomness: 32 bits of its hash, which the
    /// task's word keeps (unknown before the submission's block, like the randomness).
    function _challengeSeed(bytes32 entropy) private pure returns (uint32) {
        return uint32(uint256(keccak256(abi.encode(entropy))));
    }

    /// @dev The challenged leaf of a tree of `n` leaves: keccak256(abi.encode(seed, 0)) mod n
    /// (inference/audit/challenge.py's `challenge_indices(seed, n, 1)`; the modulo bias is below
    /// 2^-200). The seed is the auditors' draw randomness (see _drawEntropy's trust assumption).
    function _challenge(bytes32 seed, uint256 n) private pure returns (uint256) {
        if (n == 0) return 0;
        // slither-disable-next-line weak-prng
        return uint256(keccak256(abi.encode(seed, uint256(0)))) % n;
    }

    /// @dev Whether the task waits for its auditors' draw.
    function _auditorsPending(Core memory core) private pure returns (bool) {
        return core.status == AuditStatus.Auditing && core.members >> INDEX_BITS == 0
            && core.revealedMask & NO_AUDITORS == 0;
    }

    /// @dev Reverts unless `account` is the auditor at `position` (`known`: the address the draw
    /// just returned for it, saving the oracle lookup).
    function _checkAuditor(
        uint256 taskId,
        Core memory core,
        uint256 position,
        address account,
        address known
    ) private view {
        if (position == 0 || position > core.auditors) revert AuditNotAuditor(taskId, account);
        if (_memberAddress(core, position, known) != account) {
            revert AuditNotAuditor(taskId, account);
        }
    }

    /// @dev The operator at `position` (from the oracle's index table unless `known`).
    function _memberAddress(Core memory core, uint256 position, address known)
        private
        view
        returns (address)
    {
        if (known != address(0)) return known;
        uint256 index = (uint256(core.members) >> (INDEX_BITS * position)) & INDEX_MASK;
        if (index == 0 || index == INDEX_MASK) return address(0);
        return IOperatorIndex(address(oracle)).operatorAt(index);
    }

    /// @dev The phase as a pure function of the task's state and the block time.
    function _phase(Core memory core) private view returns (AuditPhase) {
        AuditStatus status = core.status;
        if (status == AuditStatus.None) return AuditPhase.None;
        if (status > AuditStatus.Auditing) return AuditPhase.Finished;
        if (status == AuditStatus.Drawing) {
            if (block.timestamp > core.deadline && core.drawBlock < block.number) {
                return AuditPhase.Resolvable;
            }
            return AuditPhase.DrawExecutor;
        }
        if (status == AuditStatus.Executing) {
            if (block.timestamp > core.deadline || core.members == 0) return AuditPhase.Resolvable;
            return AuditPhase.Execute;
        }
        if (core.revealedMask & NO_AUDITORS != 0) return AuditPhase.Resolvable;
        if (core.members >> INDEX_BITS == 0) return AuditPhase.DrawAuditors;
        if (block.timestamp > uint256(core.deadline) + _revealWindow) return AuditPhase.Resolvable;
        uint8 full = uint8((1 << (uint256(core.auditors) + 1)) - 1);
        if (core.committedMask != full && block.timestamp <= core.deadline) {
            return AuditPhase.Commit;
        }
        // No more commits can come: resolvable once every commitment is opened, or at once if
        // too few members committed for a majority.
        if (
            core.revealedMask == core.committedMask
                || _popCount(core.committedMask) < (uint256(core.auditors) + 1) / 2 + 1
        ) return AuditPhase.Resolvable;
        return AuditPhase.Reveal;
    }

    function _requiredFee(uint256 auditors, uint256 callbackGasLimit)
        private
        view
        returns (uint256)
    {
        uint256 fee =
            uint256(_minFeePerMember) * (auditors + 1) + callbackGasLimit * _callbackGasPrice;
        // Rounded up to whole gwei on purpose (the escrow unit), never down.
        // slither-disable-next-line divide-before-multiply
        return (fee + FEE_UNIT - 1) / FEE_UNIT * FEE_UNIT;
    }

    /// @dev The storage key of `position`'s seal in the task's slot.
    function _sealKey(uint256 taskId, uint256 position) private pure returns (uint256) {
        return _slot(taskId) * 8 + position;
    }

    /// @dev The slot a task id names (whether the task still holds it or not).
    function _slot(uint256 taskId) private pure returns (uint256) {
        return taskId & SLOT_MASK;
    }

    /// @dev The task's word 0; all zeroes (status None) unless the slot holds this very task (an
    /// unknown id, or a finished task whose slot was reused).
    function _core(uint256 taskId) private view returns (Core memory core) {
        if (taskId <= TASK_ID_OFFSET) return core;
        core = _cores[_slot(taskId)];
        if ((uint256(core.number) << SLOT_BITS) + _slot(taskId) != taskId - TASK_ID_OFFSET) {
            delete core;
        }
    }

    function _popCount(uint256 mask) private pure returns (uint256 count) {
        for (; mask != 0; mask &= mask - 1) ++count;
    }
}

/// @dev The oracle's operator table and keeper draw, as this contract uses them.
interface IOperatorIndex {
    function operatorAt(uint256 index) external view returns (address);

    function drawCommittees(uint256 maxTasks) external returns (uint256 drawn);
}
