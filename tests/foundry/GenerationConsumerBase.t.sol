// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {GenerationConsumerBase} from "@genoracle/contracts/GenerationConsumerBase.sol";
import {GenerationOracle} from "@genoracle/contracts/GenerationOracle.sol";
import {IGenerationOracle} from "@genoracle/contracts/interfaces/IGenerationOracle.sol";
import {IModelRegistry} from "@genoracle/contracts/interfaces/IModelRegistry.sol";
import {IOracleTypes} from "@genoracle/contracts/interfaces/IOracleTypes.sol";
import {ModelRegistry} from "@genoracle/contracts/models/ModelRegistry.sol";

import {MiniTest} from "./MiniTest.sol";

/// @dev The smallest dApp: it records what the oracle called back with.
contract RecordingConsumer is GenerationConsumerBase {
    mapping(uint256 taskId => bytes32 digest) public verified;
    mapping(uint256 taskId => uint8 reason) public failed;
    uint256 public callbacks;

    constructor(IGenerationOracle oracle_) GenerationConsumerBase(oracle_) {}

    function request(bytes32 modelId, bytes calldata input, uint32 callbackGasLimit)
        external
        payable
        returns (uint256)
    {
        return _requestGeneration(modelId, input, 3, type(uint32).max, callbackGasLimit, msg.value);
    }

    function claimRefund() external returns (uint256) {
        return _claimOracleCredit();
    }

    function _fulfill(uint256 taskId, bytes32 digest) internal override {
        verified[taskId] = digest;
        ++callbacks;
    }

    function _fail(uint256 taskId, uint8 reason) internal override {
        failed[taskId] = reason;
        ++callbacks;
    }
}

/// @title GenerationConsumerBaseTest
/// @notice Foundry tests of the consumer base against the real oracle: a verified task calls
/// `_fulfill` once, a failed one `_fail` and its fee comes back through `_claimOracleCredit`;
/// nobody but the oracle reaches the hooks or sends ether.
contract GenerationConsumerBaseTest is MiniTest {
    bytes32 private constant MODEL = keccak256("foundry-model");
    uint256 private constant FEE_PER_MEMBER = 1e15;
    uint32 private constant CALLBACK_GAS = 100_000;

    GenerationOracle private oracle;
    RecordingConsumer private consumer;
    address[3] private operators;

    function setUp() public {
        oracle = new GenerationOracle(
            address(this),
            IOracleTypes.Config({
                minStake: 1 ether,
                minFeePerMember: uint96(FEE_PER_MEMBER),
                commitWindow: 120,
                revealWindow: 120,
                unbondingDelay: 600,
                slashDeviationBps: 1000,
                slashNoCommitBps: 200,
                maxCallbackGasLimit: 500_000,
                maxCommitteeSize: 7,
                callbackGasPrice: 1 gwei,
                treasury: address(0xdead)
            })
        );
        ModelRegistry(address(oracle.models())).registerModel(
            MODEL, IModelRegistry.ModelKind.Image, "phash64", 0x08000000, 0x10000000, "ipfs://m"
        );
        bytes32[] memory served = new bytes32[](1);
        served[0] = MODEL;
        for (uint256 i; i < operators.length; ++i) {
            operators[i] = address(uint160(0xA11CE + i));
            VM.deal(operators[i], 10 ether);
            VM.prank(operators[i]);
            oracle.register{value: 2 ether}("http://operator.test", served);
        }
        consumer = new RecordingConsumer(oracle);
        VM.deal(address(this), 10 ether);
    }

    function _request() private returns (uint256 taskId) {
        taskId = consumer.request{value: oracle.requiredFee(3, CALLBACK_GAS)}(
            MODEL, bytes('{"prompt":"a cat","seed":0}'), CALLBACK_GAS
        );
        VM.roll(block.number + 1); // the request block's hash draws the committee
    }

    function test_VerifiedTaskCallsFulfillOnceWithTheDigest() public {
        uint256 taskId = _request();
        (address[] memory committee,) = oracle.committeeOf(taskId);
        bytes32 digest = bytes32(uint256(0xC0FFEE));
        for (uint256 i; i < committee.length; ++i) {
            bytes32 commitment = keccak256(
                abi.encode(
                    block.chainid, address(oracle), taskId, committee[i], digest, bytes32(i)
                )
            );
            VM.prank(committee[i]);
            oracle.commit(taskId, commitment);
        }
        for (uint256 i; i < committee.length; ++i) {
            VM.prank(committee[i]);
            oracle.reveal(taskId, digest, bytes32(i));
        }
        assertEq(consumer.verified(taskId), digest, "digest the consumer recorded");
        assertEq(consumer.callbacks(), 1, "callbacks");
        assertEq(consumer.claimRefund(), 0, "credit after a verified task");
    }

    function test_FailedTaskCallsFailAndTheFeeComesBack() public {
        uint256 fee = oracle.requiredFee(3, CALLBACK_GAS);
        uint256 taskId = _request();
        VM.warp(block.timestamp + 241); // nobody committed: the task expires
        oracle.resolve(taskId);
        assertEq(consumer.failed(taskId), uint256(IOracleTypes.FailureReason.Expired), "reason");
        assertEq(consumer.callbacks(), 1, "callbacks");
        uint256 refund = fee - uint256(CALLBACK_GAS) * 1 gwei;
        assertEq(consumer.claimRefund(), refund, "claimed credit");
        assertEq(address(consumer).balance, refund, "consumer balance");
        assertEq(consumer.claimRefund(), 0, "second claim");
    }

    function test_OnlyTheOracleReachesTheHooks() public {
        bytes memory notOracle = abi.encodeWithSelector(
            GenerationConsumerBase.OnlyOracle.selector, address(this), address(oracle)
        );
        VM.expectRevert(notOracle);
        consumer.onGenerationVerified(1, bytes32(uint256(1)));
        VM.expectRevert(notOracle);
        consumer.onGenerationFailed(1, 2);
        VM.expectRevert(notOracle);
        (bool sent,) = address(consumer).call{value: 1 wei}("");
        sent; // expectRevert makes the call report success; the revert was checked
        assertEq(consumer.callbacks(), 0, "callbacks");
    }

    function test_ConstructorRefusesAnOracleWithoutCode() public {
        address nothing = address(0xBAD);
        VM.expectRevert(
            abi.encodeWithSelector(GenerationConsumerBase.OracleNotContract.selector, nothing)
        );
        new RecordingConsumer(IGenerationOracle(nothing));
    }

    receive() external payable {}
}
