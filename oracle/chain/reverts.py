"""Decode revert data into named Python exceptions, driven by the contract's ABI.

The contract reports every failure as a custom error (`FeeTooLow(sent, required)`); web3 only hands
back the raw bytes. Each ABI error becomes a subclass of `ContractRevertError` named after it,
created on first use, so callers can write `except revert_class("WrongPhase")` and messages
read `FeeTooLow(sent=1000, required=3000)`. No list of errors is duplicated: the ABI is the list.
Times read as UTC dates and tolerances as lanes, and the errors a user can fix end with what to do
(`_HINTS`, by error name; an error without a hint still decodes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.conversions import to_hex

from oracle.errors import ChainError

# Error(string) and Panic(uint256) are the compiler's built-in reverts.
_ERROR_STRING_SELECTOR = function_signature_to_4byte_selector("Error(string)")
_PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")
_PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


#: Arguments that hold a unix time (rendered as a UTC date) or a packed tolerance (as lanes).
_TIME_ARGS = frozenset({"withdrawableAt", "deadline", "commitDeadline", "revealDeadline"})
_TOLERANCE_ARGS = frozenset({"tolerance", "floor", "maxTolerance"})


def utc_date(timestamp: int) -> str:
    """A chain timestamp as people read it: 2026-12-01 14:03:09 UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _lanes(packed: int) -> str:
    """A packed tolerance as its four lane thresholds, lane 0 first (its most significant byte)."""
    return "/".join(str((packed >> shift) & 0xFF) for shift in (24, 16, 8, 0))


Hint = Callable[[Mapping[str, Any]], str]
#: What to do about the errors a requester, an operator or the registry owner can fix.
_HINTS: dict[str, Hint] = {
    "InvalidCommitteeSize": lambda a: "a committee is odd, from 3 to this oracle's maximum",
    "NotEnoughOperators": lambda a: (
        f"only {a['eligible']} operator(s) can be drawn for this model now (busy nodes pause "
        "their assignments until their queues drain): retry in a while, ask for a smaller odd "
        "committee, or have more operators serve it (`genoracle operator register --model ...`)"
    ),
    "FeeTooLow": lambda a: f"send at least {a['required']} wei (without --fee: the minimum)",
    "FeeTooHigh": lambda a: f"send at most {a['maximum']} wei",
    "CallbackGasTooHigh": lambda a: f"ask for at most {a['maximum']} callback gas",
    "ToleranceBelowFloor": lambda a: (
        f"a request may loosen the model's tolerance, never tighten it below its floor "
        f"{_lanes(a['floor'])}; leave --tolerance out to use the floor"
    ),
    "ToleranceTooHigh": lambda a: f"ask for at most {_lanes(a['maxTolerance'])} per lane",
    "UnknownModel": lambda a: (
        "the model is not registered on this oracle: its registry owner registers it with "
        "`genoracle models register NAME`"
    ),
    "ModelInactive": lambda a: "the registry owner has stopped new requests for this model",
    "ModelAlreadyRegistered": lambda a: "nothing to do: the model is registered",
    "OwnableUnauthorizedAccount": lambda a: (
        f"{a['account']} is not the owner: sign with the owner's key (the deployer's, unless "
        "`genoracle deploy --owner` named another)"
    ),
    "StakeTooLow": lambda a: f"stake at least {a['minStake']} wei",
    "AlreadyRegistered": lambda a: (
        "this account is an operator already: `genoracle operator add-stake` tops it up"
    ),
    "NotRegistered": lambda a: "register first: `genoracle operator register`",
    "OperatorExiting": lambda a: "the operator is leaving: withdraw after the unbonding delay",
    "NotExiting": lambda a: (
        "run `genoracle operator exit` first, then `withdraw` once the unbonding delay passed"
    ),
    "OpenAssignments": lambda a: (
        f"{a['openTasks']} assigned task(s) still open: `genoracle operator pause`, let them "
        "finish, then exit"
    ),
    "UnbondingNotOver": lambda a: (
        f"the stake unbonds at {utc_date(a['withdrawableAt'])}: withdraw after that"
    ),
    "AssignmentsAlreadyPaused": lambda a: "already paused: `genoracle operator resume` undoes it",
    "AssignmentsNotPaused": lambda a: "not paused: nothing to resume",
    "TooManyServedModels": lambda a: f"an operator serves at most {a['maximum']} models",
    "NothingToClaim": lambda a: "no credit to claim yet",
    "DrawBacklogFull": lambda a: (
        f"{a['pending']} tasks wait for their committee draw: try again in a few blocks"
    ),
    "TaskNotFound": lambda a: f"no task {a['taskId']} on this oracle",
}


class ContractRevertError(ChainError):
    """A call or transaction reverted; `name` and `args` are the decoded custom error, `hint`
    what to do about it (empty when nothing can be said)."""

    name: str = "Revert"

    def __init__(self, name: str, args: Mapping[str, Any], data: bytes, context: str = "") -> None:
        self.name = name
        self.error_args = dict(args)
        self.data = data
        self.context = context
        rendered = ", ".join(
            f"{key}={_render_arg(key, value)}" for key, value in self.error_args.items()
        )
        prefix = f"{context}: " if context else ""
        hint = _HINTS.get(name)
        try:
            self.hint = hint(self.error_args) if hint is not None else ""
        except (KeyError, TypeError, ValueError):
            self.hint = ""  # arguments that did not decode: the name alone still says it
        suffix = f"; {self.hint}" if self.hint else ""
        super().__init__(f"{prefix}contract reverted with {name}({rendered}){suffix}")


_CLASSES: dict[str, type[ContractRevertError]] = {}


def revert_class(name: str) -> type[ContractRevertError]:
    """The exception class for a custom error name (created once, shared by every decoder)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type(name, (ContractRevertError,), {"__doc__": f"The contract's {name} error."})
        _CLASSES[name] = cls
    return cls


def _render_arg(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if name in _TIME_ARGS:
            return utc_date(value)
        if name in _TOLERANCE_ARGS:
            return _lanes(value)
    return _render(value)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return to_hex(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    return str(value)


class RevertDecoder:
    """Maps 4-byte selectors of one ABI's errors to their names and argument types."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            inputs = entry.get("inputs", [])
            types = [collapse_if_tuple(dict(item)) for item in inputs]
            names = [item.get("name") or f"arg{index}" for index, item in enumerate(inputs)]
            signature = f"{entry['name']}({','.join(types)})"
            self._errors[function_signature_to_4byte_selector(signature)] = (
                entry["name"],
                types,
                names,
            )

    @property
    def error_names(self) -> list[str]:
        return sorted(name for name, _, _ in self._errors.values())

    def decode(self, data: object, context: str = "") -> ContractRevertError:
        """Turn revert data into the matching exception (unknown data gives a generic one)."""
        raw = _as_bytes(data)
        selector, body = raw[:4], raw[4:]
        if selector in self._errors:
            name, types, names = self._errors[selector]
            try:
                values = abi_decode(types, body)
            except DecodingError:
                return revert_class(name)(name, {"raw": raw}, raw, context)
            values = tuple(
                to_checksum_address(value) if kind == "address" else value
                for kind, value in zip(types, values, strict=True)
            )
            return revert_class(name)(name, dict(zip(names, values, strict=True)), raw, context)
        if selector == _ERROR_STRING_SELECTOR:
            (reason,) = abi_decode(["string"], body)
            return revert_class("Error")("Error", {"reason": reason}, raw, context)
        if selector == _PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            meaning = _PANIC_REASONS.get(code, "unknown panic code")
            return revert_class("Panic")(
                "Panic", {"code": hex(code), "meaning": meaning}, raw, context
            )
        if not raw:
            return revert_class("Revert")("Revert", {"reason": "no revert data"}, raw, context)
        return revert_class("UnknownError")("UnknownError", {"data": raw}, raw, context)


def _as_bytes(data: object) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict):
        return _as_bytes(data.get("data"))
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            return bytes.fromhex(text)
        except ValueError:
            return b""
    return b""
