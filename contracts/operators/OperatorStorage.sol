// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IOracleTypes} from "../interfaces/IOracleTypes.sol";
import {DigestAgreement} from "../libraries/DigestAgreement.sol";
import {StakeTree} from "../libraries/StakeTree.sol";

/// @title OperatorStorage
/// @notice The operators' state, shared by the oracle and its OperatorDesk (which runs in the
/// oracle's storage by delegatecall): stakes, credits, the models each operator serves, and one
/// stake-weighted pool per model.
/// @dev Each model has a pool: a Fenwick tree (StakeTree) over the slots of the operators serving
/// it, weighted by stake in gwei, so a committee of k is drawn in O(k log N) and an operator's
/// weight changes in O(models served x log N). Operator indices (the 20-bit ids committees are
/// packed with) and pool slots are reused once freed: an index when its operator withdraws (it has
/// no open assignment then), a slot when its operator stops serving the model (slots are read only
/// by draws). Both contracts must declare no other storage before this contract's.
abstract contract OperatorStorage is IOracleTypes, ReentrancyGuardTransient {
    using SafeCast for uint256;
    using StakeTree for StakeTree.Tree;

    /// @notice Operator indices are 20-bit (committees pack them).
    uint256 public constant MAX_OPERATORS = (1 << 20) - 1;
    /// @notice How many models one operator may serve: a slash or top-up updates each pool.
    uint256 public constant MAX_MODELS_PER_OPERATOR = 8;
    /// @notice Longest operator endpoint, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    /// @dev Draw weights count stake in gwei, so the tree packs four 64-bit sums per word.
    uint256 internal constant WEIGHT_UNIT = 1 gwei;

    /// @dev One word per account: what every task touches for its members.
    struct Account {
        uint96 stake;
        uint96 credit;
        uint32 openTasks;
        uint32 index; // 1-based operator index while registered, 0 otherwise
    }

    /// @dev One word per operator, touched by registration, service and exit.
    struct Profile {
        bool registered;
        bool exiting;
        bool paused; // not drawn, by its own choice (see {pauseAssignments})
        uint8 servedCount;
        uint64 withdrawableAt;
        uint128 servedModels; // model indices, 16 bits each, servedCount of them
    }

    /// @dev The operators serving one model.
    struct Pool {
        uint32 slotCount; // slots ever used (the tree's size)
        uint32 freeSlotCount;
        uint32 eligibleCount; // slots with a positive weight
        uint64 totalWeight; // gwei; below 2^64 so the packed tree cannot overflow
    }

    /// @dev One pool slot: who holds it and its weight, in one word for the draw.
    struct Slot {
        address operator;
        uint64 weight;
        uint32 operatorIndex;
    }

    /// @dev A model's request terms, copied from the registry when they change (one storage read
    /// per request instead of a call).
    struct ModelTerms {
        bool registered;
        bool active;
        uint16 index;
        uint32 floor;
        uint32 maxTolerance;
        uint32 auditTolerance; // the floor of audited requests (0: not auditable)
    }

    struct Registry {
        uint32 indexCount; // indices ever assigned
        uint32 freeIndexCount;
    }

    IModelRegistry internal immutable _models;
    uint96 internal immutable _minStake;
    uint32 internal immutable _unbondingDelay;
    address internal immutable _treasury;

    // Written by OperatorDesk through delegatecall: slither, reading each contract alone, calls
    // some of these never initialised (see contracts/SLITHER.md).
    Registry internal _registry;
    // slither-disable-next-line constable-states
    uint256 internal _treasuryBalance;
    mapping(address account => Account) internal _accounts;
    // Written by the oracle's modelTermsChanged; the desk reads it for audited requests.
    // slither-disable-next-line uninitialized-state
    mapping(bytes32 modelId => ModelTerms) internal _terms;
    // slither-disable-next-line uninitialized-state
    mapping(address operator => Profile) internal _profiles;
    // slither-disable-next-line uninitialized-state
    mapping(address operator => string) internal _endpoints;
    // slither-disable-next-line uninitialized-state
    mapping(uint256 index => address) internal _operatorAt;
    mapping(uint256 position => uint256 index) internal _freeIndices;
    mapping(uint256 modelIndex => Pool) internal _pools;
    // slither-disable-next-line uninitialized-state
    mapping(uint256 modelIndex => StakeTree.Tree) internal _poolTrees;
    mapping(uint256 modelIndex => mapping(uint256 slot => Slot)) internal _slots;
    // slither-disable-next-line uninitialized-state
    mapping(uint256 modelIndex => mapping(address operator => uint256 slot)) internal _slotOf;
    mapping(uint256 modelIndex => mapping(uint256 position => uint256 slot)) internal _freeSlots;
    /// @dev The AuditedTasks contract allowed to call the audit host functions of OperatorDesk
    /// (zero until the model registry's owner attaches one, once).
    // slither-disable-next-line uninitialized-state,constable-states
    address internal _auditedTasks;
    /// @dev The TrainingTasks contract, a second attached module (see OperatorDesk), same rules.
    // slither-disable-next-line uninitialized-state,constable-states
    address internal _trainingTasks;

    constructor(IModelRegistry registry, uint96 minStake, uint32 unbondingDelay, address treasury) {
        if (minStake < WEIGHT_UNIT) revert InvalidConfig("minStake");
        if (treasury == address(0)) revert InvalidConfig("treasury");
        _models = registry;
        _minStake = minStake;
        _unbondingDelay = unbondingDelay;
        _treasury = treasury;
    }

    /// @dev Draws `size` distinct operators of the pool of `modelIndex` by weight, without
    /// replacement, in O(size * log N) storage reads. Requires `size` <= the pool's eligible count.
    function _drawFromPool(uint256 modelIndex, bytes32 entropy, uint256 size)
        internal
        view
        returns (uint256[] memory indices, address[] memory operators)
    {
        indices = new uint256[](size);
        operators = new address[](size);
        uint256[] memory slots = new uint256[](size);
        uint256[] memory weights = new uint256[](size);
        Pool memory pool = _pools[modelIndex];
        StakeTree.Tree storage tree = _poolTrees[modelIndex];
        uint256 firstStep = StakeTree.topStep(pool.slotCount);
        uint256 remaining = pool.totalWeight;
        for (uint256 drawn; drawn < size; ++drawn) {
            // The entropy is the task's (see _drawEntropy and its trust assumption).
            // slither-disable-next-line weak-prng
            uint256 target = uint256(keccak256(abi.encode(entropy, drawn))) % remaining;
            uint256 slotId = tree.find(pool.slotCount, firstStep, target, slots, weights, drawn);
            Slot memory slot = _slots[modelIndex][slotId];
            slots[drawn] = slotId;
            weights[drawn] = slot.weight;
            indices[drawn] = slot.operatorIndex;
            operators[drawn] = slot.operator;
            remaining -= slot.weight;
        }
    }

    /// @dev Takes `amount` from `operator`'s stake and updates its draw weights. The caller has
    /// already completed every draw whose randomness is known (frozen weights).
    function _slash(address operator, uint256 amount) internal {
        Account storage account = _accounts[operator];
        uint96 newStake = account.stake - uint96(amount);
        account.stake = newStake;
        Profile storage profile = _profiles[operator];
        if (!profile.paused) _syncWeights(operator, profile, newStake);
    }

    /// @dev The model's index and the tolerance a request gets: the model's default for
    /// `useDefault`, else the requested one, which must lie between the default (the honest floor:
    /// below it, honest hardware noise would be slashed) and the maximum.
    function _requestTerms(bytes32 modelId, uint32 tolerance, uint32 useDefault)
        internal
        view
        returns (uint16, uint32)
    {
        ModelTerms memory terms = _terms[modelId];
        if (!terms.registered) revert IModelRegistry.UnknownModel(modelId);
        if (!terms.active) revert IModelRegistry.ModelInactive(modelId);
        if (tolerance == useDefault) return (terms.index, terms.floor);
        if (!DigestAgreement.withinTolerance(tolerance, terms.maxTolerance)) {
            revert IModelRegistry.ToleranceTooHigh(tolerance, terms.maxTolerance);
        }
        if (!DigestAgreement.withinTolerance(terms.floor, tolerance)) {
            revert IModelRegistry.ToleranceBelowFloor(tolerance, terms.floor);
        }
        return (terms.index, tolerance);
    }

    /// @dev The index of the `i`-th model in a profile's packed `servedModels`.
    function _servedModelAt(uint256 served, uint256 i) internal pure returns (uint256) {
        return (served >> (16 * i)) & 0xffff;
    }

    /// @dev Sets `operator`'s weight in every pool it serves to the weight of `stake`.
    function _syncWeights(address operator, Profile storage profile, uint256 stake) internal {
        uint256 weight = _eligibleWeight(stake);
        uint256 served = profile.servedModels;
        for (uint256 i; i < profile.servedCount; ++i) {
            uint256 modelIndex = _servedModelAt(served, i);
            _setSlotWeight(modelIndex, _slotOf[modelIndex][operator], weight);
        }
    }

    /// @dev Sets the weight of one pool slot, keeping the tree and the pool's totals in step.
    function _setSlotWeight(uint256 modelIndex, uint256 slotId, uint256 weight) internal {
        Slot storage slot = _slots[modelIndex][slotId];
        uint256 old = slot.weight;
        if (old == weight) return;
        slot.weight = uint64(weight);
        Pool memory pool = _pools[modelIndex];
        StakeTree.Tree storage tree = _poolTrees[modelIndex];
        if (weight > old) {
            tree.increase(pool.slotCount, slotId, weight - old);
            pool.totalWeight = (uint256(pool.totalWeight) + weight - old).toUint64();
            if (old == 0) pool.eligibleCount += 1;
        } else {
            tree.decrease(pool.slotCount, slotId, old - weight);
            pool.totalWeight -= uint64(old - weight);
            if (weight == 0) pool.eligibleCount -= 1;
        }
        _pools[modelIndex] = pool;
    }

    /// @dev The draw weight of an active operator with `stake`: its gwei, or 0 below minStake.
    function _eligibleWeight(uint256 stake) internal view returns (uint256) {
        return stake >= _minStake ? stake / WEIGHT_UNIT : 0;
    }
}
