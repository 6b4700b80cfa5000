"""Decode revert data into named Python exceptions, driven by the contract's ABI.

The contract reports every failure as a custom error (`FeeTooLow(sent, required)`); web3 only hands
back the raw bytes. Each ABI error becomes a subclass of `ContractRevertError` named after it,
created on first use, so callers can write `except revert_class("WrongPhase")` and messages
read `FeeTooLow(sent=1000, required=3000)`. No list of errors is duplicated: the ABI is the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class ContractRevertError(ChainError):
    """A call or transaction reverted; `name` and `args` are the decoded custom error."""

    name: str = "Revert"

    def __init__(self, name: str, args: Mapping[str, Any], data: bytes, context: str = "") -> None:
        self.name = name
        self.error_args = dict(args)
        self.data = data
        self.context = context
        rendered = ", ".join(f"{key}={_render(value)}" for key, value in self.error_args.items())
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}contract reverted with {name}({rendered})")


_CLASSES: dict[str, type[ContractRevertError]] = {}


def revert_class(name: str) -> type[ContractRevertError]:
    """The exception class for a custom error name (created once, shared by every decoder)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type(name, (ContractRevertError,), {"__doc__": f"The contract's {name} error."})
        _CLASSES[name] = cls
    return cls


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
