"""Custom errors decode by the contract's own ABI into named exceptions with readable messages."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from oracle.chain.contract import load_abi
from oracle.chain.reverts import ContractRevertError, RevertDecoder, revert_class


def encoded(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_becomes_a_named_exception_with_arguments() -> None:
    decoder = RevertDecoder(load_abi())
    data = encoded("FeeTooLow(uint256,uint256)", ["uint256", "uint256"], [1, 3000])
    error = decoder.decode("0x" + data.hex(), context="requestGeneration")
    assert isinstance(error, revert_class("FeeTooLow"))
    assert isinstance(error, ContractRevertError)
    assert error.error_args == {"sent": 1, "required": 3000}
    assert str(error) == (
        "requestGeneration: contract reverted with FeeTooLow(sent=1, required=3000); send at "
        "least 3000 wei (without --fee: the minimum)"
    )


def test_times_read_as_dates_tolerances_as_lanes_and_fixable_errors_say_what_to_do() -> None:
    decoder = RevertDecoder(load_abi())
    operator = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    data = encoded(
        "UnbondingNotOver(address,uint256)", ["address", "uint256"], [operator, 1764590400]
    )
    error = decoder.decode(data, context="withdrawStake")
    assert str(error) == (
        f"withdrawStake: contract reverted with UnbondingNotOver(operator={operator}, "
        "withdrawableAt=2025-12-01 12:00:00 UTC); the stake unbonds at 2025-12-01 12:00:00 UTC: "
        "withdraw after that"
    )
    assert error.error_args["withdrawableAt"] == 1764590400  # the value itself stays a number
    floor = decoder.decode(
        encoded(
            "ToleranceBelowFloor(uint32,uint32)", ["uint32", "uint32"], [0x02000000, 0x04060000]
        )
    )
    assert "ToleranceBelowFloor(tolerance=2/0/0/0, floor=4/6/0/0)" in str(floor)
    assert floor.hint.endswith("below its floor 4/6/0/0; leave --tolerance out to use the floor")
    unhinted = decoder.decode(encoded("ZeroCommitment(uint256)", ["uint256"], [7]))
    assert unhinted.hint == "" and str(unhinted).endswith("ZeroCommitment(taskId=7)")


def test_every_abi_error_is_known_and_bytes_render_as_hex() -> None:
    decoder = RevertDecoder(load_abi())
    assert {"WrongPhase", "TaskNotFound", "NotCommitteeMember", "CommitmentMismatch"} <= set(
        decoder.error_names
    )
    data = encoded("UnknownModel(bytes32)", ["bytes32"], [b"\x12" * 32])
    assert "UnknownModel(modelId=0x" + "12" * 32 + ")" in str(decoder.decode(data))


def test_builtin_reverts_and_unknown_data() -> None:
    decoder = RevertDecoder([])
    message = decoder.decode(encoded("Error(string)", ["string"], ["nope"]))
    assert message.name == "Error" and message.error_args == {"reason": "nope"}
    panic = decoder.decode(encoded("Panic(uint256)", ["uint256"], [0x11]))
    assert panic.error_args["meaning"] == "arithmetic overflow or underflow"
    assert decoder.decode(b"").name == "Revert"
    assert decoder.decode(b"\xde\xad\xbe\xef").name == "UnknownError"
