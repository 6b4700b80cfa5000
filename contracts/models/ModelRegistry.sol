// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IModelRegistry, IModelTermsListener} from "../interfaces/IModelRegistry.sol";
import {DigestAgreement} from "../libraries/DigestAgreement.sol";

/// @title ModelRegistry
/// @notice The deterministic models an oracle verifies, registered by its owner: each with its
/// digest scheme and calibrated tolerances. The default tolerance is the honest floor (what honest
/// re-runs on other hardware stay within): a requester may loosen it up to the maximum, never
/// tighten it below, or honest noise would be slashed as deviation. An auditable model also has
/// an audit tolerance: the same floor for the audited mode's step sketches ({setAuditTolerance}).
/// @dev A contract of its own, created by the oracle, so the oracle stays within the code size
/// limit and the registry's owner holds no power over stakes or tasks.
contract ModelRegistry is IModelRegistry, Ownable2Step {
    using SafeCast for uint256;

    /// @notice Models are addressed by a 16-bit index inside tasks and operator records.
    uint256 public constant MAX_MODELS = type(uint16).max;
    /// @notice Told of every change of a model's request terms (the oracle); may be zero.
    IModelTermsListener public immutable listener;

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

    /// @notice May register models derived from registered ones (the TrainingTasks contract:
    /// each completed fine-tune becomes a model); set by the owner, zero for none.
    address public registrar;

    mapping(bytes32 modelId => Model) private _models;
    mapping(bytes32 modelId => uint32) private _auditTolerances;
    bytes32[] private _modelIds;

    /// @param initialOwner Who may register models.
    /// @param listener_ Told of every change of a model's request terms (zero: nobody).
    constructor(address initialOwner, IModelTermsListener listener_) Ownable(initialOwner) {
        listener = listener_;
    }

    /// @notice Registers a model. `modelId` is the sha256 of the model's canonical manifest.
    /// @dev Requirements: owner; new nonzero id; nonempty scheme; every lane threshold <= 64 and
    /// the default's lanes within the maximum's; fewer than MAX_MODELS models.
    function registerModel(
        bytes32 modelId,
        ModelKind kind,
        string calldata digestScheme,
        uint32 defaultTolerance,
        uint32 maxTolerance,
        string calldata metadataURI
    ) external onlyOwner {
        _register(modelId, kind, digestScheme, defaultTolerance, maxTolerance, metadataURI);
    }

    /// @notice Lets `registrar_` register derived models ({registerDerivedModel}); zero: nobody.
    /// @dev Requirements: owner.
    function setRegistrar(address registrar_) external onlyOwner {
        registrar = registrar_;
        emit RegistrarChanged(registrar_);
    }

    /// @notice Registers a model derived from the registered `parentId` (a fine-tune of it): same
    /// kind, digest scheme and tolerances, its own id (the sha256 of its manifest) and metadata
    /// (the manifest itself, so anyone can check the id). Its servers declare it as for any model.
    /// @dev Requirements: the registrar; a registered parent; the checks of {registerModel}.
    function registerDerivedModel(bytes32 modelId, bytes32 parentId, string calldata metadataURI)
        external
    {
        if (msg.sender != registrar || msg.sender == address(0)) revert NotRegistrar(msg.sender);
        Model storage parent = _registered(parentId);
        _register(
            modelId,
            parent.kind,
            parent.digestScheme,
            parent.defaultTolerance,
            parent.maxTolerance,
            metadataURI
        );
        emit DerivedModelRegistered(modelId, parentId);
    }

    /// @notice Allows or stops new requests for a model; open tasks are unaffected.
    /// @dev Requirements: owner; a registered model.
    function setModelActive(bytes32 modelId, bool active) external onlyOwner {
        Model storage model = _registered(modelId);
        model.active = active;
        emit ModelStatusChanged(modelId, active);
        _tellListener(modelId, model);
    }

    /// @notice Makes a model auditable: `tolerance` is the per-lane threshold (four 8-bit lanes,
    /// lane 0 in the most significant byte) its audited step sketches are compared with, the
    /// floor of every audited request (0: not auditable). Tasks keep the tolerance they got.
    /// @dev Why a floor, as for the default tolerance: honest re-runs of a step on other hardware
    /// move its sketch by up to this much (inference/audit/calibrated.py: the audit study), so a
    /// lower threshold would slash honest members. Requirements: owner; a registered model;
    /// every lane <= 64.
    function setAuditTolerance(bytes32 modelId, uint32 tolerance) external onlyOwner {
        _registered(modelId);
        _checkTolerance(tolerance);
        _auditTolerances[modelId] = tolerance;
        emit AuditToleranceSet(modelId, tolerance);
        _tellListener(modelId, _models[modelId]);
    }

    /// @inheritdoc IModelRegistry
    function auditToleranceOf(bytes32 modelId) external view returns (uint32) {
        return _auditTolerances[modelId];
    }

    /// @inheritdoc IModelRegistry
    function indexOf(bytes32 modelId) external view returns (uint16) {
        return _registered(modelId).index;
    }

    /// @inheritdoc IModelRegistry
    function modelIdAt(uint256 index) external view returns (bytes32) {
        return _modelIds[index];
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 modelId) external view returns (ModelInfo memory) {
        Model storage model = _registered(modelId);
        return ModelInfo({
            kind: model.kind,
            active: model.active,
            defaultTolerance: model.defaultTolerance,
            maxTolerance: model.maxTolerance,
            index: model.index,
            digestScheme: model.digestScheme,
            metadataURI: model.metadataURI
        });
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelIds.length;
    }

    function _register(
        bytes32 modelId,
        ModelKind kind,
        string memory digestScheme,
        uint32 defaultTolerance,
        uint32 maxTolerance,
        string memory metadataURI
    ) private {
        if (modelId == bytes32(0)) revert InvalidModelId();
        Model storage model = _models[modelId];
        if (model.registered) revert ModelAlreadyRegistered(modelId);
        if (bytes(digestScheme).length == 0) revert InvalidDigestScheme();
        if (_modelIds.length >= MAX_MODELS) revert TooManyModels(MAX_MODELS);
        _checkTolerance(maxTolerance);
        if (!DigestAgreement.withinTolerance(defaultTolerance, maxTolerance)) {
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
        _tellListener(modelId, model);
    }

    /// @dev The listener is the oracle that created this registry: a call to a known contract.
    function _tellListener(bytes32 modelId, Model storage model) private {
        if (address(listener) == address(0)) return;
        listener.modelTermsChanged(
            modelId,
            model.index,
            model.active,
            model.defaultTolerance,
            model.maxTolerance,
            _auditTolerances[modelId]
        );
    }

    function _registered(bytes32 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (!model.registered) revert UnknownModel(modelId);
    }

    /// @dev Every lane threshold must be a possible Hamming distance of a 64-bit lane.
    function _checkTolerance(uint32 tolerance) private pure {
        for (uint256 lane; lane < 4; ++lane) {
            if ((tolerance >> (8 * lane)) & 0xff > 64) revert InvalidTolerance(tolerance);
        }
    }
}
