// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOracleTypes} from "./IOracleTypes.sol";

/// @title IAuditDraws
/// @notice What the oracle calls on its attached AuditedTasks before any draw weight changes.
interface IAuditDraws {
    /// @notice Completes every audited draw (executor or auditors) whose randomness exists, so
    /// that no draw ever sees a weight changed after its randomness became known.
    /// @dev Requirements: called by the oracle. Never reverts for a draw that cannot be made.
    function drawReadyAudits() external;
}

/// @title IAuditHost
/// @notice The narrow interface the oracle offers its attached AuditedTasks contract (and nobody
/// else): served by the OperatorDesk in the oracle's storage, reached through the oracle's
/// fallback. Stakes, credits, the draw pools and the treasury stay in the oracle alone.
interface IAuditHost {
    /// @notice What the oracle does at the end of an audited task, in one call (a static struct:
    /// no offsets to encode or decode).
    /// @param members Operator indices, 20 bits each, `size` of them (position 0: the executor);
    /// a zero index (never drawn) is skipped.
    /// @param known The members' addresses where AuditedTasks knows them for certain (bound by
    /// the executor's seal or an auditor's commitment); zero: the oracle looks the index up.
    /// @param paidMask Positions that share the slashed stake equally.
    /// @param slashBps Basis points of its stake each position loses, 16 bits per position.
    /// @param executorFee Fee credited to position 0.
    /// @param auditorFee Fee credited to each paid auditor (positions >= 1 in `paidMask`).
    /// @param requester Credited `refund`.
    /// @param resolver Credited `resolverFee` (the callback gas fee).
    struct Settlement {
        uint256 members;
        uint256 size;
        address[5] known;
        uint256 paidMask;
        uint256 slashBps;
        uint256 executorFee;
        uint256 auditorFee;
        address requester;
        uint256 refund;
        address resolver;
        uint256 resolverFee;
    }

    /// @notice The AuditedTasks contract was already attached, or the caller may not attach it.
    error AuditAttachRefused(address caller, address attached);
    /// @notice Only the attached AuditedTasks may call the audit host.
    error AuditHostOnlyAudited(address caller);
    /// @notice A settlement credits more than the ether sent with it.
    error AuditHostUnderfunded(uint256 sent, uint256 owed);

    /// @notice Attaches the AuditedTasks contract, once.
    /// @dev Requirements: called by the owner of the oracle's model registry; none attached yet;
    /// `audited` is a contract.
    function attachAuditedTasks(address audited) external;

    /// @notice The attached AuditedTasks contract (zero if none).
    function auditedTasks() external view returns (address);

    /// @notice The model index and tolerance of an audited request for `members` operators.
    /// @dev Requirements: as the oracle's request: an active model, at least `members` drawable
    /// operators serving it; and an auditable one (the registry's `auditToleranceOf` is nonzero)
    /// with a tolerance whose every lane is between the audit tolerance's and 64 (or
    /// `useDefault`: the audit tolerance).
    function auditTerms(bytes32 modelId, uint32 tolerance, uint32 useDefault, uint256 members)
        external
        view
        returns (uint16 modelIndex, uint32 granted);

    /// @notice Draws `size` operators of the model's pool by stake weight, without replacement and
    /// never `avoided`, and opens an assignment for each (they cannot exit until it is settled).
    /// Draws nobody if too few operators can be drawn.
    /// @dev Requirements: called by the attached AuditedTasks, which has completed every draw
    /// whose randomness exists before any weight changed (it is told by {IAuditDraws}).
    /// `avoidedIndex`: the operator index never drawn (zero: none). Returns the drawn operators'
    /// indices packed 20 bits each (first at the lowest bits; zero if too few can be drawn) and
    /// their addresses (`size` <= 4 of them).
    function auditDraw(uint256 modelIndex, bytes32 entropy, uint256 size, uint256 avoidedIndex)
        external
        returns (uint256 indices, address[4] memory operators);

    /// @notice The operators {auditDraw} would draw now (a view: nothing is opened). Weights are
    /// frozen until a draw whose randomness exists is made, so this is the draw's result.
    function auditPreview(uint256 modelIndex, bytes32 entropy, uint256 size, address avoided)
        external
        view
        returns (address[] memory operators);

    /// @notice Settles an audited task: closes each member's assignment, slashes, credits.
    /// Ether sent beyond what is credited goes to the treasury.
    /// @dev Requirements: called by the attached AuditedTasks, which has completed every draw
    /// whose randomness exists (frozen weights); `msg.value` covers the fees, refund and resolver
    /// fee. Returns the members' addresses and what each lost (by position, `size` of them), and
    /// each paid member's share.
    function auditSettle(Settlement calldata settlement)
        external
        payable
        returns (address[5] memory operators, uint256[5] memory slashed, uint256 slashShare);
}

/// @title IAuditedTasks
/// @notice Types, events and errors of the audited mode: one executor generates, a few auditors
/// recompute a challenged part (see AuditedTasks).
interface IAuditedTasks {
    /// @dev `Drawing`: executor not drawn yet. `Executing`: waiting for the executor's submission.
    /// `Auditing`: submitted (unaudited result public); auditors drawn, commit, reveal, open.
    /// `Resolved`: the executor's result is verified. `Rejected`: the executor was outvoted or
    /// withheld its evidence. `NoConsensus`, `Expired`: no verdict.
    enum AuditStatus {
        None,
        Drawing,
        Executing,
        Auditing,
        Resolved,
        Rejected,
        NoConsensus,
        Expired
    }

    /// @dev A pure function of the task's state and the block time.
    enum AuditPhase {
        None,
        DrawExecutor,
        Execute,
        DrawAuditors,
        Commit,
        Reveal,
        Resolvable,
        Finished
    }

    /// @dev Why an audited task ended without a verified result.
    enum AuditFailure {
        None,
        NotDrawn,
        NotSubmitted,
        Expired,
        NoConsensus,
        ExecutorOutvoted,
        EvidenceWithheld
    }

    /// @dev Why a member of an audited task was slashed.
    enum AuditSlashReason {
        None,
        NotSubmitted,
        NotCommitted,
        NotRevealed,
        Deviated,
        EvidenceWithheld
    }

    /// @notice An auditor's opening, for {revealAudits} and {openSketches}.
    struct AuditOpening {
        uint8 position; // 1..auditors
        address auditor;
        bytes32 digest;
        bytes32 salt;
    }

    /// @notice The executor's opening of its challenged sketch (see {challengeOf}), which is its
    /// digest. `executor`, `resultDigest`, `sketchRoot` and `leafCount` are those of its
    /// submission. `proof` is the challenged leaf's Merkle path, from the leaf up
    /// (inference/audit/merkle.py `MerkleTree.proof`).
    struct SketchOpening {
        address executor;
        bytes32 resultDigest;
        bytes32 sketchRoot;
        uint32 leafCount;
        bytes32 sketch;
        bytes32 secret; // the sketch salts' secret: leaf i's salt is keccak256(secret, i)
        bytes32[] proof;
    }

    struct AuditTaskInfo {
        address requester;
        bytes32 modelId;
        AuditStatus status;
        AuditPhase phase;
        uint8 auditors;
        uint32 tolerance;
        uint64 deadline;
        uint64 revealDeadline;
        uint64 drawBlock; // whose hash the next draw uses; 0 once every draw is made

        uint256 fee;
        uint32 callbackGasLimit;
        bytes32 resultDigest;
        address[] members;
        bool[] committed;
        bool[] revealed;
    }

    /// @notice The executor is drawn from the hash of this event's block (`drawBlock` in
    /// {getAuditTask}).
    event AuditTaskRequested(
        uint256 indexed taskId,
        address indexed requester,
        bytes32 indexed modelId,
        bytes input,
        uint8 auditors,
        uint32 tolerance,
        uint64 submitDeadline,
        uint256 fee
    );
    /// @notice A keeper's or a resolution's draw of the executor. An executor drawn by its own
    /// submission is named by {ExecutionSubmitted} alone (one log fewer on the common path).
    event ExecutorDrawn(uint256 indexed taskId, address indexed executor);
    event AuditNotDrawn(uint256 indexed taskId, IOracleTypes.DrawFailure reason);
    /// @notice The executor's result, public at once but NOT audited yet (see {AuditResolved}).
    /// Auditors reveal until `commitDeadline` plus the reveal window ({getAuditTask}).
    event ExecutionSubmitted(
        uint256 indexed taskId,
        address indexed executor,
        bytes32 unauditedDigest,
        bytes32 evidenceRoot,
        uint32 leafCount,
        uint64 commitDeadline
    );
    /// @notice The auditors are drawn; the challenge is {challengeOf}'s from now on. Commits emit
    /// no log: a sealed commitment says nothing until opened ({getAuditTask} shows who committed).
    event AuditorsDrawn(uint256 indexed taskId, address[] auditors);
    /// @notice An auditor's opening, by a reveal that does not end the task (the resolution's
    /// {AuditResolved} or {AuditFailed} carries every member's digest).
    event AuditRevealed(uint256 indexed taskId, address indexed auditor, bytes32 digest);
    /// @notice The executor's opening, by a transaction that does not end the task.
    /// @param digest The executor's digest of the challenged part (its sketch of the challenged leaf).
    event SketchesOpened(uint256 indexed taskId, bytes32 digest);
    /// @param paidMask Members paid (bit 0 the executor, bit p auditor p): `executorFee` to the
    /// executor, `auditorFee` to each paid auditor, plus `slashShare` each from slashed stake.
    /// @param digests Each member's compared digest (position order; zero: not revealed).
    event AuditResolved(
        uint256 indexed taskId,
        bytes32 digest,
        uint8 support,
        uint8 paidMask,
        uint256 executorFee,
        uint256 auditorFee,
        uint256 slashShare,
        bytes32[] digests
    );
    /// @param digests Each member's compared digest (position order; zero: not revealed).
    event AuditFailed(uint256 indexed taskId, AuditFailure reason, bytes32[] digests);
    event AuditSlashed(
        uint256 indexed taskId, address indexed operator, uint256 amount, AuditSlashReason reason
    );
    event AuditCallbackCompleted(uint256 indexed taskId, address indexed consumer, bool success);

    error AuditInvalidAuditors(uint8 auditors);
    error AuditFeeTooLow(uint256 sent, uint256 required);
    error AuditFeeTooHigh(uint256 sent, uint256 maximum);
    /// @notice Fees are escrowed in whole gwei: send a multiple of 1e9 wei ({requiredFee} is one).
    error AuditFeeNotWholeGwei(uint256 sent);
    error AuditCallbackGasTooHigh(uint32 requested, uint32 maximum);
    error AuditDrawBacklogFull(uint256 pending);
    error AuditTaskNotFound(uint256 taskId);
    error AuditWrongPhase(uint256 taskId, AuditPhase phase);
    error AuditNotExecutor(uint256 taskId, address account);
    error AuditNotAuditor(uint256 taskId, address account);
    error AuditAlreadyCommitted(uint256 taskId, address auditor);
    error AuditZeroCommitment(uint256 taskId);
    error AuditNotCommitted(uint256 taskId, address auditor);
    error AuditCommitmentMismatch(uint256 taskId, address auditor);
    error AuditAlreadyOpened(uint256 taskId);
    error AuditSubmissionMismatch(uint256 taskId);
    error AuditInvalidProof(uint256 taskId);
    /// @notice A submission has leaves unless it refuses the input (INVALID_INPUT_DIGEST, no
    /// leaves), and only then.
    error AuditInvalidLeafCount(uint256 taskId);
    error AuditNothingToReveal(uint256 taskId);
    error AuditOnlyOracle(address caller);
    error AuditInsufficientGasForCallback(uint256 available, uint256 callbackGasLimit);
}
