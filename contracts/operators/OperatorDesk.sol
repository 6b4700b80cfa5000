// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {IAuditDraws, IAuditHost} from "../interfaces/IAuditedTasks.sol";
import {ITrainingDraws, ITrainingHost} from "../interfaces/ITrainingTasks.sol";
import {IModelRegistry, IModelTermsListener} from "../interfaces/IModelRegistry.sol";
import {DigestAgreement} from "../libraries/DigestAgreement.sol";
import {StakeTree} from "../libraries/StakeTree.sol";
import {OperatorStorage} from "./OperatorStorage.sol";

/// @title OperatorDesk
/// @notice An operator's own business: register, stake, declare the models it serves, pause,
/// exit and withdraw. Runs only by delegatecall from the GenerationOracle that created it, in the
/// oracle's storage; the oracle completes every ready draw before it forwards a call that changes
/// a weight.
/// It also serves the module host (IAuditHost, ITrainingHost): the narrow interface through which
/// the attached task modules (one slot per kind: AuditedTasks, TrainingTasks) draw members from
/// the same pools and settle their tasks against the same stakes and credits.
/// @dev A contract of its own so the oracle stays within the code size limit; these calls are rare,
/// and the extra delegatecall costs them ~3k gas.
contract OperatorDesk is OperatorStorage, IAuditHost, ITrainingHost, IModelTermsListener {
    using SafeCast for uint256;
    using StakeTree for StakeTree.Tree;

    address private immutable _self;

    /// @notice The desk was called directly instead of through its oracle.
    error OperatorDeskCalledDirectly();

    constructor(IModelRegistry registry, uint96 minStake, uint32 unbondingDelay, address treasury)
        OperatorStorage(registry, minStake, unbondingDelay, treasury)
    {
        _self = address(this);
    }

    uint256 private constant BPS = 10_000;
    uint256 private constant INDEX_BITS = 20;
    uint256 private constant INDEX_MASK = (1 << 20) - 1;
    /// @dev 64 in every lane: the largest tolerance of a 64-bit lane.
    uint32 private constant _MAX_LANES = 0x40404040;

    modifier onlyDelegated() {
        if (address(this) == _self) revert OperatorDeskCalledDirectly();
        _;
    }

    /// @dev Only an attached module (AuditedTasks or TrainingTasks).
    modifier onlyAudited() {
        if (address(this) == _self) revert OperatorDeskCalledDirectly();
        if (msg.sender == address(0) || (msg.sender != _auditedTasks && msg.sender != _trainingTasks))
        {
            revert AuditHostOnlyAudited(msg.sender);
        }
        _;
    }

    // ------------------------------------------------------------------------------------------
    // Audit host (IAuditHost): for the attached AuditedTasks only
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IAuditHost
    function attachAuditedTasks(address audited) external onlyDelegated {
        address owner = Ownable(address(_models)).owner();
        if (msg.sender != owner || _auditedTasks != address(0) || audited.code.length == 0) {
            revert AuditAttachRefused(msg.sender, _auditedTasks);
        }
        _auditedTasks = audited;
    }

    /// @inheritdoc IAuditHost
    function auditedTasks() external view onlyDelegated returns (address) {
        return _auditedTasks;
    }

    /// @inheritdoc ITrainingHost
    function attachTrainingTasks(address training) external onlyDelegated {
        address owner = Ownable(address(_models)).owner();
        if (msg.sender != owner || _trainingTasks != address(0) || training.code.length == 0) {
            revert AuditAttachRefused(msg.sender, _trainingTasks);
        }
        _trainingTasks = training;
    }

    /// @inheritdoc ITrainingHost
    function trainingTasks() external view onlyDelegated returns (address) {
        return _trainingTasks;
    }

    /// @inheritdoc IModelTermsListener
    /// @dev Reaches the desk through the oracle's fallback (the oracle is at the code size
    /// limit). Requirements: called by the oracle's model registry.
    function modelTermsChanged(
        bytes32 modelId,
        uint16 index,
        bool active,
        uint32 floor,
        uint32 maxTolerance,
        uint32 auditTolerance
    ) external onlyDelegated {
        if (msg.sender != address(_models)) revert OnlyModelRegistry(msg.sender);
        _terms[modelId] = ModelTerms({
            registered: true,
            active: active,
            index: index,
            floor: floor,
            maxTolerance: maxTolerance,
            auditTolerance: auditTolerance
        });
    }

    /// @inheritdoc IAuditHost
    function auditTerms(bytes32 modelId, uint32 tolerance, uint32 useDefault, uint256 members)
        external
        view
        onlyDelegated
        returns (uint16 modelIndex, uint32 granted)
    {
        (modelIndex,) = _requestTerms(modelId, useDefault, useDefault);
        granted = _auditTolerance(modelId, tolerance, useDefault);
        _requireEligible(modelId, modelIndex, members);
    }

    /// @inheritdoc ITrainingHost
    function trainingTerms(bytes32 modelId, uint256 members)
        external
        view
        onlyDelegated
        returns (uint16 modelIndex)
    {
        (modelIndex,) = _requestTerms(modelId, type(uint32).max, type(uint32).max);
        _requireEligible(modelId, modelIndex, members);
    }

    /// @dev A module's task needs `members` drawable operators serving the model.
    function _requireEligible(bytes32 modelId, uint256 modelIndex, uint256 members) private view {
        uint256 eligible = _pools[modelIndex].eligibleCount;
        if (eligible < members) revert NotEnoughOperators(modelId, eligible, uint8(members));
    }

    /// @dev The tolerance an audited request gets: the model's audit tolerance, or a requested
    /// one with every lane between it and 64 (never below: honest noise would be outvoted). The
    /// audit tolerance is the registry's, copied here with the model's other terms (a warm read
    /// instead of a call).
    function _auditTolerance(bytes32 modelId, uint32 requested, uint32 useDefault)
        private
        view
        returns (uint32)
    {
        uint32 floor = _terms[modelId].auditTolerance;
        if (floor == 0) revert IModelRegistry.ModelNotAuditable(modelId);
        if (requested == useDefault) return floor;
        if (!DigestAgreement.withinTolerance(requested, _MAX_LANES)) {
            revert IModelRegistry.InvalidTolerance(requested);
        }
        if (!DigestAgreement.withinTolerance(floor, requested)) {
            revert IModelRegistry.ToleranceBelowFloor(requested, floor);
        }
        return requested;
    }

    /// @inheritdoc IAuditHost
    function auditDraw(uint256 modelIndex, bytes32 entropy, uint256 size, uint256 avoidedIndex)
        external
        onlyAudited
        returns (uint256 indices, address[4] memory operators)
    {
        address avoided = avoidedIndex == 0 ? address(0) : _operatorAt[avoidedIndex];
        if (!_canDraw(modelIndex, size, avoided)) return (indices, operators);
        (uint256[] memory drawn, address[] memory addresses) =
            _drawAvoiding(modelIndex, entropy, size, avoided);
        for (uint256 i; i < size; ++i) {
            _accounts[addresses[i]].openTasks += 1;
            indices |= drawn[i] << (INDEX_BITS * i);
            operators[i] = addresses[i];
        }
    }

    /// @inheritdoc ITrainingHost
    function trainingDraw(uint256 modelIndex, bytes32 entropy, uint256 size)
        external
        onlyAudited
        returns (uint256[] memory indices, address[] memory operators)
    {
        if (!_canDraw(modelIndex, size, address(0))) return (indices, operators);
        (indices, operators) = _drawAvoiding(modelIndex, entropy, size, address(0));
        for (uint256 i; i < size; ++i) {
            _accounts[operators[i]].openTasks += 1;
        }
    }

    /// @inheritdoc IAuditHost
    function auditPreview(uint256 modelIndex, bytes32 entropy, uint256 size, address avoided)
        external
        view
        onlyDelegated
        returns (address[] memory operators)
    {
        if (_canDraw(modelIndex, size, avoided)) {
            (, operators) = _drawAvoiding(modelIndex, entropy, size, avoided);
        }
    }

    /// @inheritdoc IAuditHost
    // The one external call goes to the other attached module's draw hook (a contract the
    // registry owner attached), before any write; it calls back only its own host functions
    // (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function auditSettle(Settlement calldata settlement)
        external
        payable
        onlyAudited
        returns (address[5] memory operators, uint256[5] memory slashed, uint256 slashShare)
    {
        // Before this settlement's slashes change weights: the other module's ready draws.
        if (settlement.slashBps != 0) _drawOtherModules();
        uint256 size = settlement.size;
        uint256 owed = settlement.refund + settlement.resolverFee;
        uint256 pool;
        uint256 paidCount;
        for (uint256 position; position < size; ++position) {
            uint256 index = (settlement.members >> (INDEX_BITS * position)) & INDEX_MASK;
            if (index == 0) continue;
            address operator = settlement.known[position];
            if (operator == address(0)) operator = _operatorAt[index];
            operators[position] = operator;
            Account storage account = _accounts[operator];
            account.openTasks -= 1;
            if (settlement.paidMask & (1 << position) != 0) ++paidCount;
            uint256 bps = (settlement.slashBps >> (16 * position)) & 0xffff;
            uint256 amount = bps == 0 ? 0 : uint256(account.stake) * bps / BPS;
            if (amount != 0) {
                _slash(operator, amount);
                slashed[position] = amount;
                pool += amount;
            }
        }
        slashShare = paidCount == 0 ? 0 : pool / paidCount;
        for (uint256 position; position < size; ++position) {
            if (operators[position] == address(0)) continue;
            bool paid = settlement.paidMask & (1 << position) != 0;
            uint256 fee = position == 0
                ? settlement.executorFee
                : paid ? settlement.auditorFee : 0;
            owed += fee;
            uint256 amount = paid ? fee + slashShare : fee;
            if (amount != 0) _creditAccount(operators[position], amount);
        }
        if (msg.value < owed) revert AuditHostUnderfunded(msg.value, owed);
        _creditAccount(settlement.requester, settlement.refund);
        _creditAccount(settlement.resolver, settlement.resolverFee);
        // What nobody is owed (the split's remainder, slashes nobody shares) is the treasury's.
        // slither-disable-next-line divide-before-multiply
        uint256 dust = msg.value - owed + pool - slashShare * paidCount;
        if (dust != 0) _treasuryBalance += dust;
    }

    /// @inheritdoc ITrainingHost
    // The one external call goes to the other attached module's draw hook (a contract the
    // registry owner attached), before any write; it calls back only its own host functions
    // (see contracts/SLITHER.md).
    // slither-disable-next-line reentrancy-no-eth
    function settleRound(RoundSettlement calldata settlement, bool close)
        external
        payable
        onlyAudited
        returns (address[] memory operators, uint256[] memory slashed, uint256 slashShare)
    {
        uint256 size = settlement.size;
        operators = new address[](size);
        slashed = new uint256[](size);
        uint256 owed = settlement.refund + settlement.resolverFee;
        uint256 pool;
        uint256 paidCount;
        for (uint256 position; position < size; ++position) {
            if (settlement.slashBps[position] != 0) {
                // Before this settlement's slashes change weights: the other module's ready draws.
                _drawOtherModules();
                break;
            }
        }
        for (uint256 position; position < size; ++position) {
            uint256 index = (settlement.members >> (INDEX_BITS * position)) & INDEX_MASK;
            if (index == 0) continue;
            address operator = _operatorAt[index];
            operators[position] = operator;
            Account storage account = _accounts[operator];
            if (close) account.openTasks -= 1;
            owed += settlement.fees[position];
            if (settlement.paidMask & (1 << position) != 0) ++paidCount;
            uint256 amount = uint256(account.stake) * settlement.slashBps[position] / BPS;
            if (amount != 0) {
                _slash(operator, amount);
                slashed[position] = amount;
                pool += amount;
            }
        }
        if (msg.value < owed) revert AuditHostUnderfunded(msg.value, owed);
        slashShare = paidCount == 0 ? 0 : pool / paidCount;
        for (uint256 position; position < size; ++position) {
            uint256 amount = settlement.fees[position];
            if (settlement.paidMask & (1 << position) != 0) amount += slashShare;
            if (amount != 0) _creditAccount(operators[position], amount);
        }
        _creditAccount(settlement.requester, settlement.refund);
        _creditAccount(settlement.resolver, settlement.resolverFee);
        // What nobody is owed (the split's remainder, slashes nobody shares) is the treasury's.
        // slither-disable-next-line divide-before-multiply
        _treasuryBalance += msg.value - owed + pool - slashShare * paidCount;
    }

    /// @dev Before a module's slash changes a weight: completes the ready draws of the other
    /// attached module (the caller has completed its own and the oracle's), so that no draw of
    /// any module sees a weight changed after its randomness existed.
    function _drawOtherModules() private {
        if (msg.sender == _auditedTasks) {
            address training = _trainingTasks;
            if (training != address(0)) ITrainingDraws(training).drawReadyTraining();
        } else {
            address audited = _auditedTasks;
            if (audited != address(0)) IAuditDraws(audited).drawReadyAudits();
        }
    }

    /// @notice Registers the caller as an operator staking `msg.value`, reachable at `endpoint`,
    /// serving `modelIds` (more can be added with {serveModel}).
    /// @dev Requirements: not registered; `msg.value` >= minStake; endpoint 1..256 bytes; every
    /// model registered, listed once, at most MAX_MODELS_PER_OPERATOR.
    function register(string calldata endpoint, bytes32[] calldata modelIds)
        external
        payable
        onlyDelegated
        nonReentrant
    {
        Profile storage profile = _profiles[msg.sender];
        if (profile.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value < _minStake) revert StakeTooLow(msg.value, _minStake);
        _checkEndpoint(endpoint);

        Account storage account = _accounts[msg.sender];
        account.index = _takeIndex(msg.sender).toUint32();
        account.stake = msg.value.toUint96();
        profile.registered = true;
        profile.exiting = false;
        profile.paused = false;
        profile.withdrawableAt = 0;
        _endpoints[msg.sender] = endpoint;
        emit OperatorRegistered(msg.sender, endpoint, msg.value);
        for (uint256 i; i < modelIds.length; ++i) {
            _serve(msg.sender, profile, modelIds[i]);
        }
    }

    /// @notice Adds `msg.value` to the caller's stake (also restores eligibility after a slash).
    /// @dev Requirements: registered, not exiting, `msg.value` > 0.
    function addStake() external payable onlyDelegated nonReentrant {
        Profile storage profile = _activeProfile();
        if (msg.value == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint96 newStake = (uint256(account.stake) + msg.value).toUint96();
        account.stake = newStake;
        // A paused operator stays out of the draw until it resumes.
        if (!profile.paused) _syncWeights(msg.sender, profile, newStake);
        emit StakeAdded(msg.sender, msg.value, newStake);
    }

    /// @notice Changes the endpoint at which the caller serves artifacts.
    /// @dev Requirements: registered; endpoint 1..256 bytes.
    function setEndpoint(string calldata endpoint) external onlyDelegated {
        if (!_profiles[msg.sender].registered) revert NotRegistered(msg.sender);
        _checkEndpoint(endpoint);
        _endpoints[msg.sender] = endpoint;
        emit EndpointUpdated(msg.sender, endpoint);
    }

    /// @notice Declares that the caller serves `modelId`: it may be drawn for its tasks from now on.
    /// @dev Requirements: registered, not exiting; a registered model not served yet; fewer than
    /// MAX_MODELS_PER_OPERATOR served.
    function serveModel(bytes32 modelId) external onlyDelegated {
        Profile storage profile = _activeProfile();
        _serve(msg.sender, profile, modelId);
    }

    /// @notice Stops serving `modelId`: the caller is no longer drawn for its tasks. Tasks already
    /// assigned must still be served.
    /// @dev Requirements: registered; serving the model.
    function stopServingModel(bytes32 modelId) external onlyDelegated {
        Profile storage profile = _profiles[msg.sender];
        if (!profile.registered) revert NotRegistered(msg.sender);
        uint256 modelIndex = _models.indexOf(modelId);
        uint256 count = profile.servedCount;
        uint256 served = profile.servedModels;
        for (uint256 i; i < count; ++i) {
            if (_servedModelAt(served, i) != modelIndex) continue;
            // The last entry moves into the freed place; the last place is cleared.
            uint256 last = _servedModelAt(served, count - 1);
            served &= ~(uint256(0xffff) << (16 * i));
            served |= last << (16 * i);
            served &= ~(uint256(0xffff) << (16 * (count - 1)));
            profile.servedModels = uint128(served);
            profile.servedCount = uint8(count - 1);
            _releaseSlot(modelIndex, msg.sender);
            emit ModelUnserved(msg.sender, modelId);
            return;
        }
        revert NotServing(msg.sender, modelId);
    }

    /// @notice Stops the caller from being drawn for new committees, without leaving: the way
    /// for a busy operator to drain its open assignments before {requestExit}, or to pause for
    /// maintenance. Tasks already assigned must still be served.
    /// @dev Requirements: registered, not exiting, not already paused.
    function pauseAssignments() external onlyDelegated {
        Profile storage profile = _activeProfile();
        if (profile.paused) revert AssignmentsAlreadyPaused(msg.sender);
        profile.paused = true;
        _syncWeights(msg.sender, profile, 0);
        emit AssignmentsPaused(msg.sender);
    }

    /// @notice Makes a paused operator drawable again, with its current stake.
    /// @dev Requirements: registered, not exiting, paused.
    function resumeAssignments() external onlyDelegated {
        Profile storage profile = _activeProfile();
        if (!profile.paused) revert AssignmentsNotPaused(msg.sender);
        profile.paused = false;
        _syncWeights(msg.sender, profile, _accounts[msg.sender].stake);
        emit AssignmentsResumed(msg.sender);
    }

    /// @notice Leaves the operator set: stops serving every model and starts the unbonding delay,
    /// after which {withdrawStake} pays the stake out.
    /// @dev Requirements: registered, not already exiting, no open assignment (a busy operator
    /// calls {pauseAssignments} first and waits for its tasks to finish), so that every task the
    /// stake answers for is settled before the unbonding clock starts.
    function requestExit() external onlyDelegated {
        Profile storage profile = _activeProfile();
        Account storage account = _accounts[msg.sender];
        if (account.openTasks != 0) revert OpenAssignments(msg.sender, account.openTasks);
        uint256 served = profile.servedModels;
        for (uint256 i; i < profile.servedCount; ++i) {
            uint256 modelIndex = _servedModelAt(served, i);
            _releaseSlot(modelIndex, msg.sender);
            emit ModelUnserved(msg.sender, _models.modelIdAt(modelIndex));
        }
        uint64 withdrawableAt = uint64(block.timestamp) + _unbondingDelay;
        profile.servedCount = 0;
        profile.servedModels = 0;
        profile.exiting = true;
        profile.paused = false;
        profile.withdrawableAt = withdrawableAt;
        emit ExitRequested(msg.sender, withdrawableAt);
    }

    /// @notice Pays the caller's whole stake out and deregisters it; its operator index is freed
    /// for a later registration.
    /// @dev Requirements: exit requested, unbonding delay over, no open assignment. The last
    /// check cannot fail today ({requestExit} needs none open and an exiting operator is not
    /// drawn); it stays so that the stake can never leave while a task may still slash it.
    function withdrawStake() external onlyDelegated nonReentrant {
        Profile storage profile = _profiles[msg.sender];
        if (!profile.registered) revert NotRegistered(msg.sender);
        if (!profile.exiting) revert NotExiting(msg.sender);
        if (block.timestamp < profile.withdrawableAt) {
            revert UnbondingNotOver(msg.sender, profile.withdrawableAt);
        }
        Account storage account = _accounts[msg.sender];
        if (account.openTasks != 0) revert OpenAssignments(msg.sender, account.openTasks);
        uint256 amount = account.stake;
        _releaseIndex(account.index);
        account.stake = 0;
        account.index = 0;
        delete _profiles[msg.sender];
        delete _endpoints[msg.sender];
        emit StakeWithdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Adds `modelId` to `operator`'s served models and gives it a slot in the model's pool.
    function _serve(address operator, Profile storage profile, bytes32 modelId) private {
        uint256 modelIndex = _models.indexOf(modelId);
        if (_slotOf[modelIndex][operator] != 0) revert AlreadyServing(operator, modelId);
        uint256 count = profile.servedCount;
        if (count >= MAX_MODELS_PER_OPERATOR) {
            revert TooManyServedModels(operator, MAX_MODELS_PER_OPERATOR);
        }
        profile.servedModels = uint128(uint256(profile.servedModels) | modelIndex << (16 * count));
        profile.servedCount = uint8(count + 1);

        Pool memory pool = _pools[modelIndex];
        uint256 slot;
        if (pool.freeSlotCount != 0) {
            slot = _freeSlots[modelIndex][--pool.freeSlotCount];
        } else {
            slot = ++pool.slotCount;
            _poolTrees[modelIndex].append(slot, 0);
        }
        _pools[modelIndex] = pool;
        _slotOf[modelIndex][operator] = slot;
        _slots[modelIndex][slot] = Slot({
            operator: operator,
            weight: 0,
            operatorIndex: _accounts[operator].index
        });
        uint256 stake = profile.paused ? 0 : _accounts[operator].stake;
        _setSlotWeight(modelIndex, slot, _eligibleWeight(stake));
        emit ModelServed(operator, modelId);
    }

    /// @dev Removes `operator` from the pool of `modelIndex` and frees its slot.
    function _releaseSlot(uint256 modelIndex, address operator) private {
        uint256 slot = _slotOf[modelIndex][operator];
        _setSlotWeight(modelIndex, slot, 0);
        delete _slots[modelIndex][slot];
        delete _slotOf[modelIndex][operator];
        Pool storage pool = _pools[modelIndex];
        _freeSlots[modelIndex][pool.freeSlotCount++] = slot;
    }

    /// @dev {_drawFromPool} that never draws `avoided` (zero: nobody): the auditors' draw, which
    /// must not draw the executor. Kept apart so the oracle's own draw stays as small as it is.
    /// Requires `size` <= the pool's eligible count (less one if `avoided` is eligible in it).
    function _drawAvoiding(uint256 modelIndex, bytes32 entropy, uint256 size, address avoided)
        private
        view
        returns (uint256[] memory indices, address[] memory operators)
    {
        indices = new uint256[](size);
        operators = new address[](size);
        uint256[] memory slots = new uint256[](size + 1);
        uint256[] memory weights = new uint256[](size + 1);
        Pool memory pool = _pools[modelIndex];
        StakeTree.Tree storage tree = _poolTrees[modelIndex];
        uint256 firstStep = StakeTree.topStep(pool.slotCount);
        uint256 remaining = pool.totalWeight;
        uint256 skipped;
        if (avoided != address(0)) {
            // The avoided operator counts as drawn already: the descent steps over its weight.
            uint256 avoidedSlot = _slotOf[modelIndex][avoided];
            uint256 avoidedWeight = avoidedSlot == 0 ? 0 : _slots[modelIndex][avoidedSlot].weight;
            if (avoidedWeight != 0) {
                slots[0] = avoidedSlot;
                weights[0] = avoidedWeight;
                remaining -= avoidedWeight;
                skipped = 1;
            }
        }
        for (uint256 drawn; drawn < size; ++drawn) {
            // The entropy is the task's (see AuditedTasks._drawEntropy and its trust assumption).
            // slither-disable-next-line weak-prng
            uint256 target = uint256(keccak256(abi.encode(entropy, drawn))) % remaining;
            uint256 at = drawn + skipped;
            uint256 slotId = tree.find(pool.slotCount, firstStep, target, slots, weights, at);
            Slot memory slot = _slots[modelIndex][slotId];
            slots[at] = slotId;
            weights[at] = slot.weight;
            indices[drawn] = slot.operatorIndex;
            operators[drawn] = slot.operator;
            remaining -= slot.weight;
        }
    }

    /// @dev Whether `size` operators other than `avoided` can be drawn from the model's pool.
    function _canDraw(uint256 modelIndex, uint256 size, address avoided)
        private
        view
        returns (bool)
    {
        uint256 eligible = _pools[modelIndex].eligibleCount;
        if (avoided != address(0)) {
            uint256 slot = _slotOf[modelIndex][avoided];
            if (slot != 0 && _slots[modelIndex][slot].weight != 0) --eligible;
        }
        return eligible >= size;
    }

    /// @dev Adds `amount` to `account`'s claimable credit.
    function _creditAccount(address account, uint256 amount) private {
        if (amount == 0) return;
        Account storage entry = _accounts[account];
        entry.credit = (uint256(entry.credit) + amount).toUint96();
    }

    /// @dev A free operator index if there is one, else a new one.
    function _takeIndex(address operator) private returns (uint256 index) {
        Registry memory registry = _registry;
        if (registry.freeIndexCount != 0) {
            index = _freeIndices[--registry.freeIndexCount];
        } else {
            if (registry.indexCount >= MAX_OPERATORS) revert TooManyOperators(MAX_OPERATORS);
            index = ++registry.indexCount;
        }
        _registry = registry;
        _operatorAt[index] = operator;
    }

    function _releaseIndex(uint256 index) private {
        delete _operatorAt[index];
        _freeIndices[_registry.freeIndexCount++] = index;
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
}
