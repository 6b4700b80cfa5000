// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {GenerationOracle} from "../../contracts/GenerationOracle.sol";
import {IOracleTypes} from "../../contracts/interfaces/IOracleTypes.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {ModelRegistry} from "../../contracts/models/ModelRegistry.sol";

/// @dev The cheatcodes used here (forge-std is not on npm, so the interface is declared locally).
interface Vm {
    function prank(address sender) external;
    function deal(address account, uint256 balance) external;
    function warp(uint256 timestamp) external;
    function roll(uint256 blockNumber) external;
    function expectRevert(bytes calldata revertData) external;
}

/// @title GenerationOracleTest
/// @notice Hardhat Solidity tests: the same contracts, compiled by Hardhat with the same npm solc,
/// run a whole task and check reverts (the full suite is the pytest one, on Anvil). A request does
/// not draw: its committee comes from the hash of the request's block, so each test moves past
/// that block first; the first member's commit then draws the task.
contract GenerationOracleTest {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    bytes32 private constant MODEL = keccak256("hardhat-model");
    uint256 private constant FEE_PER_MEMBER = 1e15;

    GenerationOracle private oracle;
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
        VM.deal(address(this), 100 ether);
        for (uint256 i; i < operators.length; ++i) {
            operators[i] = address(uint160(0xA11CE + i));
            VM.deal(operators[i], 10 ether);
            VM.prank(operators[i]);
            oracle.register{value: 2 ether}("http://operator.test", served);
        }
    }

    /// @dev Requests a 3-member task without callback and moves to the next block, so that the
    /// request's block hash (the task's randomness) exists.
    function _request(bytes memory input) private returns (uint256 taskId) {
        taskId = oracle.requestGeneration{value: oracle.requiredFee(3, 0)}(
            MODEL, input, 3, type(uint32).max, 0
        );
        require(
            oracle.getTask(taskId).status == IOracleTypes.TaskStatus.Drawing, "drawn at request"
        );
        require(oracle.getTask(taskId).committee.length == 0, "committee known at request");
        VM.roll(block.number + 1);
    }

    /// @dev The committee the task will be drawn with (every operator serves the model, so with
    /// three of them it is a permutation of the three).
    function _committee(uint256 taskId) private view returns (address[] memory committee) {
        (committee,) = oracle.committeeOf(taskId);
        require(committee.length == 3, "committee not drawable");
    }

    function _commitment(uint256 taskId, address member, bytes32 digest, bytes32 salt)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(oracle), taskId, member, digest, salt));
    }

    function testCommitBeforeTheRequestBlockIsSealedReverts() public {
        uint256 taskId = oracle.requestGeneration{value: oracle.requiredFee(3, 0)}(
            MODEL, bytes("{}"), 3, type(uint32).max, 0
        );
        VM.prank(operators[0]);
        VM.expectRevert(
            abi.encodeWithSelector(
                IOracleTypes.WrongPhase.selector, taskId, IOracleTypes.Phase.Draw
            )
        );
        oracle.commit(taskId, bytes32(uint256(1)));
    }

    function testUnanimousTaskResolvesInTheLastReveal() public {
        uint256 taskId = _request(bytes('{"prompt":"a cat","seed":0}'));
        address[] memory committee = _committee(taskId);
        bytes32 digest = bytes32(uint256(0xC0FFEE));
        for (uint256 i; i < committee.length; ++i) {
            bytes32 salt = keccak256(abi.encode(i));
            VM.prank(committee[i]);
            oracle.commit(taskId, _commitment(taskId, committee[i], digest, salt));
            if (i == 0) {
                require(
                    oracle.getTask(taskId).status == IOracleTypes.TaskStatus.Open,
                    "first commit did not draw"
                );
                // Drawn out of turn: the keepers' scan has not passed it (and will skip it).
                require(oracle.drawnThrough() == taskId - 1, "out-of-turn draw moved the scan");
            }
        }
        for (uint256 i; i < committee.length; ++i) {
            VM.prank(committee[i]);
            oracle.reveal(taskId, digest, keccak256(abi.encode(i)));
        }
        IOracleTypes.TaskInfo memory info = oracle.getTask(taskId);
        require(info.status == IOracleTypes.TaskStatus.Resolved, "task not resolved");
        require(info.result == digest, "wrong result");
        for (uint256 i; i < committee.length; ++i) {
            require(info.committee[i] == committee[i], "drawn committee differs from the view");
            require(oracle.creditOf(committee[i]) == FEE_PER_MEMBER, "fee share not credited");
            require(oracle.getOperator(committee[i]).openTasks == 0, "assignment not released");
        }
    }

    function testAggregatedRevealResolvesInOneCall() public {
        uint256 taskId = _request(bytes('{"prompt":"a dog","seed":0}'));
        address[] memory committee = _committee(taskId);
        bytes32 digest = bytes32(uint256(0xBEEF));
        IOracleTypes.Opening[] memory openings = new IOracleTypes.Opening[](3);
        for (uint256 i; i < committee.length; ++i) {
            bytes32 salt = keccak256(abi.encode("batch", i));
            VM.prank(committee[i]);
            oracle.commit(taskId, _commitment(taskId, committee[i], digest, salt));
            openings[i] = IOracleTypes.Opening({
                position: uint8(i), operator: committee[i], digest: digest, salt: salt
            });
        }
        oracle.revealBatch(taskId, openings); // submitted by a non-member: the openings bind
        IOracleTypes.TaskInfo memory info = oracle.getTask(taskId);
        require(info.status == IOracleTypes.TaskStatus.Resolved, "task not resolved");
        require(info.result == digest, "wrong result");
        require(oracle.creditOf(committee[2]) == FEE_PER_MEMBER, "fee share not credited");
    }

    function testKeeperDrawsABatchOfTasks() public {
        uint256 first = oracle.requestGeneration{value: oracle.requiredFee(3, 0)}(
            MODEL, bytes("{}"), 3, type(uint32).max, 0
        );
        uint256 second = oracle.requestGeneration{value: oracle.requiredFee(3, 0)}(
            MODEL, bytes("{}"), 3, type(uint32).max, 0
        );
        oracle.drawCommittees(10);
        require(oracle.drawnThrough() == 0, "drew before the randomness existed");
        VM.roll(block.number + 1);
        // The return value is not checked: drawCommittees returns 0 even when it draws (its
        // `before` counters alias the memory struct _drawReady updates); the state is the record.
        oracle.drawCommittees(10);
        require(oracle.drawnThrough() == second, "drawnThrough");
        require(oracle.getTask(first).committee.length == 3, "first not drawn");
        require(oracle.getTask(second).status == IOracleTypes.TaskStatus.Open, "second not open");
    }

    function testExpiredTaskRefundsTheRequester() public {
        uint256 taskId = _request(bytes("{}"));
        VM.warp(block.timestamp + 241);
        oracle.resolve(taskId);
        require(oracle.getTask(taskId).status == IOracleTypes.TaskStatus.Expired, "not expired");
        require(oracle.creditOf(address(this)) == 3 * FEE_PER_MEMBER, "fee not refunded");
    }

    function testCallbackFeeGoesToTheResolver() public {
        uint32 callbackGas = 100_000;
        uint256 fee = oracle.requiredFee(3, callbackGas);
        require(fee == 3 * FEE_PER_MEMBER + uint256(callbackGas) * 1 gwei, "requiredFee");
        uint256 taskId = oracle.requestGeneration{value: fee}(
            MODEL, bytes("{}"), 3, type(uint32).max, callbackGas
        );
        VM.roll(block.number + 1);
        VM.warp(block.timestamp + 241);
        address resolver = address(0xBEEF);
        VM.prank(resolver);
        oracle.resolve(taskId);
        require(oracle.creditOf(resolver) == uint256(callbackGas) * 1 gwei, "callback fee");
        require(oracle.creditOf(address(this)) == 3 * FEE_PER_MEMBER, "member fee not refunded");
    }

    function testRequestRejectsAnEvenCommittee() public {
        VM.expectRevert(
            abi.encodeWithSelector(IOracleTypes.InvalidCommitteeSize.selector, 2)
        );
        oracle.requestGeneration{value: 1e16}(MODEL, bytes("{}"), 2, type(uint32).max, 0);
    }

    function testRequestRejectsACommitteeOfOne() public {
        VM.expectRevert(
            abi.encodeWithSelector(IOracleTypes.InvalidCommitteeSize.selector, 1)
        );
        oracle.requestGeneration{value: 1e16}(MODEL, bytes("{}"), 1, type(uint32).max, 0);
    }
}
