// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {OperatorDesk} from "./OperatorDesk.sol";
import {OperatorStorage} from "./OperatorStorage.sol";

/// @title OperatorStaking
/// @notice The oracle's operator side: the operator calls (forwarded to its OperatorDesk, after
/// the draws whose randomness exists are completed), credited balances, the views, and what the
/// task layer needs: the stake-weighted draw of a committee among a model's servers, and slashing.
/// @dev Every weight change first calls {_beforeWeightChange}, which the task layer uses to complete
/// every draw whose randomness is already known: a draw always uses the weights in force before its
/// randomness existed.
abstract contract OperatorStaking is OperatorStorage {
    /// @notice The contract that runs the operator calls in this contract's storage.
    address public immutable operatorDesk;

    constructor(IModelRegistry registry, uint96 minStake, uint32 unbondingDelay, address treasury)
        OperatorStorage(registry, minStake, unbondingDelay, treasury)
    {
        operatorDesk = address(new OperatorDesk(registry, minStake, unbondingDelay, treasury));
    }

    // ------------------------------------------------------------------------------------------
    // Operator calls (see OperatorDesk for their Requirements)
    // ------------------------------------------------------------------------------------------

    /// @notice Registers the caller as an operator staking `msg.value`, reachable at `endpoint`,
    /// serving `modelIds` (more can be added with {serveModel}).
    function register(string calldata, bytes32[] calldata) external payable {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Adds `msg.value` to the caller's stake (also restores eligibility after a slash).
    function addStake() external payable {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Changes the endpoint at which the caller serves artifacts.
    function setEndpoint(string calldata) external {
        _delegateToDesk();
    }

    /// @notice Declares that the caller serves `modelId`: it may be drawn for its tasks from now on.
    function serveModel(bytes32) external {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Stops serving `modelId`: the caller is no longer drawn for its tasks. Tasks already
    /// assigned must still be served.
    function stopServingModel(bytes32) external {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Stops the caller from being drawn for new committees, without leaving: the way
    /// for a busy operator to drain its open assignments before {requestExit}, or to pause for
    /// maintenance. Tasks already assigned must still be served.
    function pauseAssignments() external {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Makes a paused operator drawable again, with its current stake.
    function resumeAssignments() external {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Leaves the operator set: stops serving every model and starts the unbonding delay,
    /// after which {withdrawStake} pays the stake out.
    function requestExit() external {
        _beforeWeightChange();
        _delegateToDesk();
    }

    /// @notice Pays the caller's whole stake out and deregisters it; its operator index is freed
    /// for a later registration.
    function withdrawStake() external {
        _delegateToDesk();
    }


    /// @notice Forwards every other call to the OperatorDesk: the host functions that the attached
    /// modules call (IAuditHost, ITrainingHost) and the registry's `modelTermsChanged`
    /// (IModelTermsListener); the desk reverts on anything else.
    fallback() external payable {
        _delegateToDesk();
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
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Stake, endpoint, status and served models of `operator` (zeroes if unregistered).
    function getOperator(address operator) external view returns (OperatorInfo memory info) {
        Profile storage profile = _profiles[operator];
        Account storage account = _accounts[operator];
        info.stake = account.stake;
        info.endpoint = _endpoints[operator];
        info.active = profile.registered && !profile.exiting && !profile.paused;
        info.exiting = profile.exiting;
        info.withdrawableAt = profile.withdrawableAt;
        info.openTasks = account.openTasks;
        info.paused = profile.paused;
        info.models = new bytes32[](profile.servedCount);
        for (uint256 i; i < info.models.length; ++i) {
            info.models[i] = _models.modelIdAt(_servedModelAt(profile.servedModels, i));
        }
    }

    /// @notice The operator holding 1-based `index` (zero address if free).
    function operatorAt(uint256 index) external view returns (address) {
        return _operatorAt[index];
    }

    /// @notice The 1-based operator index of `operator` (0 if not registered).
    function operatorIndex(address operator) external view returns (uint256) {
        return _accounts[operator].index;
    }

    /// @notice Operators that can be drawn for `modelId` now, and the sum of their weights (gwei).
    function poolOf(bytes32 modelId)
        external
        view
        returns (uint256 eligibleCount, uint256 totalWeight)
    {
        Pool memory pool = _pools[_models.indexOf(modelId)];
        return (pool.eligibleCount, pool.totalWeight);
    }

    /// @notice `operator`'s weight in the draw for `modelId`: its stake in gwei, 0 if it does not
    /// serve the model or cannot be drawn (paused, exiting, below minStake).
    function drawWeight(address operator, bytes32 modelId) external view returns (uint256) {
        uint256 modelIndex = _models.indexOf(modelId);
        uint256 slot = _slotOf[modelIndex][operator];
        return slot == 0 ? 0 : _slots[modelIndex][slot].weight;
    }


    /// @notice Rounding dust and orphaned slashes waiting for {withdrawTreasury}.
    function treasuryBalance() external view returns (uint256) {
        return _treasuryBalance;
    }

    // ------------------------------------------------------------------------------------------
    // For the task layer
    // ------------------------------------------------------------------------------------------

    /// @dev Called before any draw weight changes; must complete every draw whose randomness is
    /// already known.
    function _beforeWeightChange() internal virtual;

    /// @dev How many operators of the pool of `modelIndex` can be drawn now.
    function _poolEligible(uint256 modelIndex) internal view returns (uint256) {
        return _pools[modelIndex].eligibleCount;
    }

    /// @dev Runs the current call in the desk, in this contract's storage, and returns or reverts
    /// with what it returned. The desk is fixed at construction.
    function _delegateToDesk() internal {
        address desk = operatorDesk;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), desk, ptr, calldatasize(), 0, 0)
            let size := returndatasize()
            returndatacopy(ptr, 0, size)
            if iszero(ok) { revert(ptr, size) }
            return(ptr, size)
        }
    }
}
