// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {GenerationOracle} from "../../contracts/GenerationOracle.sol";
import {IGenerationOracle} from "../../contracts/interfaces/IGenerationOracle.sol";

/// @dev The cheatcodes used here (forge-std is not on npm, so the interface is declared locally).
interface Vm {
    function prank(address sender) external;
    function deal(address account, uint256 balance) external;
    function warp(uint256 timestamp) external;
    function expectRevert(bytes calldata revertData) external;
}

/// @title GenerationOracleTest
/// @notice Hardhat Solidity tests: the same contracts, compiled by Hardhat with the same npm solc,
/// run a whole task and check reverts (the full suite is the pytest one, on Anvil).
contract GenerationOracleTest {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    bytes32 private constant MODEL = keccak256("hardhat-model");
    uint256 private constant FEE_PER_MEMBER = 1e15;

    GenerationOracle private oracle;
    address[3] private operators;

    function setUp() public {
        oracle = new GenerationOracle(
            address(this),
            IGenerationOracle.Config({
                minStake: 1 ether,
                minFeePerMember: uint96(FEE_PER_MEMBER),
                commitWindow: 120,
                revealWindow: 120,
                unbondingDelay: 600,
                slashDeviationBps: 1000,
                slashNoCommitBps: 200,
                maxCallbackGasLimit: 500_000,
                maxCommitteeSize: 7,
                treasury: address(0xdead)
            })
        );
        oracle.registerModel(
            MODEL, IGenerationOracle.ModelKind.Image, "phash64", 0x08000000, 0x10000000, "ipfs://m"
        );
        VM.deal(address(this), 100 ether);
        for (uint256 i; i < operators.length; ++i) {
            operators[i] = address(uint160(0xA11CE + i));
            VM.deal(operators[i], 10 ether);
            VM.prank(operators[i]);
            oracle.register{value: 2 ether}("http://operator.test");
        }
    }

    function testUnanimousTaskResolvesInTheLastReveal() public {
        uint256 taskId = oracle.requestGeneration{value: 3 * FEE_PER_MEMBER}(
            MODEL, bytes('{"prompt":"a cat","seed":0}'), 3, type(uint32).max, 0
        );
        address[] memory committee = oracle.getTask(taskId).committee;
        bytes32 digest = bytes32(uint256(0xC0FFEE));
        for (uint256 i; i < committee.length; ++i) {
            bytes32 salt = keccak256(abi.encode(i));
            bytes32 commitment = keccak256(
                abi.encode(block.chainid, address(oracle), taskId, committee[i], digest, salt)
            );
            VM.prank(committee[i]);
            oracle.commit(taskId, commitment);
        }
        for (uint256 i; i < committee.length; ++i) {
            VM.prank(committee[i]);
            oracle.reveal(taskId, digest, keccak256(abi.encode(i)));
        }
        IGenerationOracle.TaskInfo memory info = oracle.getTask(taskId);
        require(info.status == IGenerationOracle.TaskStatus.Resolved, "task not resolved");
        require(info.result == digest, "wrong result");
        for (uint256 i; i < committee.length; ++i) {
            require(oracle.creditOf(committee[i]) == FEE_PER_MEMBER, "fee share not credited");
            require(oracle.getOperator(committee[i]).openTasks == 0, "assignment not released");
        }
    }

    function testAggregatedRevealResolvesInOneCall() public {
        uint256 taskId = oracle.requestGeneration{value: 3 * FEE_PER_MEMBER}(
            MODEL, bytes('{"prompt":"a dog","seed":0}'), 3, type(uint32).max, 0
        );
        address[] memory committee = oracle.getTask(taskId).committee;
        bytes32 digest = bytes32(uint256(0xBEEF));
        IGenerationOracle.Opening[] memory openings = new IGenerationOracle.Opening[](3);
        for (uint256 i; i < committee.length; ++i) {
            bytes32 salt = keccak256(abi.encode("batch", i));
            VM.prank(committee[i]);
            oracle.commit(
                taskId,
                keccak256(abi.encode(block.chainid, address(oracle), taskId, committee[i], digest, salt))
            );
            openings[i] = IGenerationOracle.Opening({position: uint8(i), digest: digest, salt: salt});
        }
        oracle.revealBatch(taskId, openings); // submitted by a non-member: the openings bind
        IGenerationOracle.TaskInfo memory info = oracle.getTask(taskId);
        require(info.status == IGenerationOracle.TaskStatus.Resolved, "task not resolved");
        require(info.result == digest, "wrong result");
        require(oracle.creditOf(committee[2]) == FEE_PER_MEMBER, "fee share not credited");
    }

    function testExpiredTaskRefundsTheRequester() public {
        uint256 taskId = oracle.requestGeneration{value: 3 * FEE_PER_MEMBER}(
            MODEL, bytes("{}"), 3, type(uint32).max, 0
        );
        VM.warp(block.timestamp + 241);
        oracle.resolve(taskId);
        require(oracle.getTask(taskId).status == IGenerationOracle.TaskStatus.Expired, "not expired");
        require(oracle.creditOf(address(this)) == 3 * FEE_PER_MEMBER, "fee not refunded");
    }

    function testRequestRejectsAnEvenCommittee() public {
        VM.expectRevert(
            abi.encodeWithSelector(IGenerationOracle.InvalidCommitteeSize.selector, 2)
        );
        oracle.requestGeneration{value: 1e16}(MODEL, bytes("{}"), 2, type(uint32).max, 0);
    }
}
