// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IModelRegistry} from "./IModelRegistry.sol";
import {IOracleTypes} from "./IOracleTypes.sol";

/// @title IGenerationOracle
/// @notice Types, events, errors and functions of the generative-AI verification oracle: staked
/// operators that declare the models they serve, a registry of deterministic models, and tasks
/// resolved by a tolerant majority of a stake-weighted committee (commit, then reveal, of a
/// locality-sensitive digest). The committee is drawn after the request, from randomness that did
/// not exist when the request was sent, with the weights in force before it became known.
interface IGenerationOracle is IOracleTypes {
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

    /// @notice The smallest fee a request with this committee size and callback gas must pay.
    function requiredFee(uint8 committeeSize, uint32 callbackGasLimit)
        external
        view
        returns (uint256);

    /// @notice Pays out the caller's credited balance (fee shares, slash shares, refunds).
    function claim() external;

    /// @notice Credited balance of `account`, claimable with {claim}.
    function creditOf(address account) external view returns (uint256);

    /// @notice The registry of the models this oracle verifies (its errors surface from requests).
    function models() external view returns (IModelRegistry);

    /// @notice The deployment-time configuration.
    function config() external view returns (Config memory);
}
