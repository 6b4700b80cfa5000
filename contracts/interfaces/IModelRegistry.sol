// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IModelTermsListener
/// @notice Told by a ModelRegistry whenever a model's request terms change, so it can check
/// requests from its own storage instead of calling the registry each time.
interface IModelTermsListener {
    /// @param floor The default tolerance, below which no request may go.
    /// @param auditTolerance The floor of audited requests (0: not auditable).
    function modelTermsChanged(
        bytes32 modelId,
        uint16 index,
        bool active,
        uint32 floor,
        uint32 maxTolerance,
        uint32 auditTolerance
    ) external;
}

/// @title IModelRegistry
/// @notice The deterministic models an oracle verifies, each with its digest scheme and its
/// calibrated tolerances (see IGenerationOracle for the digest and tolerance encodings).
interface IModelRegistry {
    enum ModelKind {
        Image,
        Text
    }

    /// @param index The model's 16-bit index, used inside tasks and operator records.
    struct ModelInfo {
        ModelKind kind;
        bool active;
        uint32 defaultTolerance;
        uint32 maxTolerance;
        uint16 index;
        string digestScheme;
        string metadataURI;
    }

    event ModelRegistered(
        bytes32 indexed modelId,
        ModelKind kind,
        string digestScheme,
        uint32 defaultTolerance,
        uint32 maxTolerance,
        string metadataURI
    );
    event ModelStatusChanged(bytes32 indexed modelId, bool active);
    /// @notice Model `modelId`'s audit tolerance is now `tolerance` (0: not auditable).
    event AuditToleranceSet(bytes32 indexed modelId, uint32 tolerance);
    /// @notice A model derived from `parentId` (a fine-tune) was registered by the registrar.
    event DerivedModelRegistered(bytes32 indexed modelId, bytes32 indexed parentId);
    event RegistrarChanged(address registrar);

    error UnknownModel(bytes32 modelId);
    error NotRegistrar(address caller);
    error ModelInactive(bytes32 modelId);
    error ModelAlreadyRegistered(bytes32 modelId);
    error InvalidModelId();
    error InvalidDigestScheme();
    error InvalidTolerance(uint32 tolerance);
    error TooManyModels(uint256 maximum);
    error ToleranceTooHigh(uint32 tolerance, uint32 maxTolerance);
    error ToleranceBelowFloor(uint32 tolerance, uint32 floor);
    /// @notice An audited request for a model with no audit tolerance (not auditable).
    error ModelNotAuditable(bytes32 modelId);

    /// @notice The index of a registered model (reverts UnknownModel otherwise).
    function indexOf(bytes32 modelId) external view returns (uint16);

    /// @notice The id of the model at `index`.
    function modelIdAt(uint256 index) external view returns (bytes32);

    /// @notice The registered model `modelId` (reverts UnknownModel otherwise).
    function getModel(bytes32 modelId) external view returns (ModelInfo memory);

    /// @notice Number of registered models.
    function modelCount() external view returns (uint256);

    /// @notice The per-lane tolerance of the audited mode's compared step sketches for
    /// `modelId` (0: the model cannot be audited).
    function auditToleranceOf(bytes32 modelId) external view returns (uint32);
    /// @notice Registers a model derived from the registered `parentId`, with its tolerances and
    /// scheme (only the registry's registrar may).
    function registerDerivedModel(bytes32 modelId, bytes32 parentId, string calldata metadataURI)
        external;
}
