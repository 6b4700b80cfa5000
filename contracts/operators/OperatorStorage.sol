// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IOracleTypes} from "../interfaces/IOracleTypes.sol";
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

    constructor(IModelRegistry registry, uint96 minStake, uint32 unbondingDelay, address treasury) {
        if (minStake < WEIGHT_UNIT) revert InvalidConfig("minStake");
        if (treasury == address(0)) revert InvalidConfig("treasury");
        _models = registry;
        _minStake = minStake;
        _unbondingDelay = unbondingDelay;
        _treasury = treasury;
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
