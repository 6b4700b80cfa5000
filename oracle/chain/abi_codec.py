"""Calldata and logs of the oracle, encoded and decoded with eth_abi from layouts derived once.

web3's contract objects re-derive a function's or event's ABI entry, validate every argument and
run each field through generic formatters on every call; a node makes a view call per step and
decodes every log of the oracle, and under load that machinery was most of its CPU (more than
the RPC round trips). The layouts here are built once per ABI. Values come out as web3 gives
them (logs: checksummed addresses; calls: struct outputs as dicts keyed by field name, see
`_named`); a test compares the log decoder with web3's on every event kind a task's life emits.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.datastructures import AttributeDict
from web3.types import EventData


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def _as_int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@functools.lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """Checksumming hashes the address; the same few operators and requesters recur in every
    log, so the results are kept."""
    return str(to_checksum_address(address))


def _checksummed(abi_type: str, value: Any) -> Any:
    """Addresses (alone or in arrays) checksummed, as web3 returns them."""
    if abi_type == "address":
        return _checksum(value)
    if abi_type == "address[]":
        return [_checksum(item) for item in value]
    return value


@dataclass(frozen=True)
class FunctionLayout:
    """One function's selector and argument and result types."""

    name: str
    selector: bytes
    input_types: list[str]
    outputs: list[Mapping[str, Any]]
    output_types: list[str]

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> FunctionLayout:
        outputs = list(entry.get("outputs", []))
        return cls(
            name=str(entry["name"]),
            selector=function_abi_to_4byte_selector(cast(Any, entry)),
            input_types=[collapse_if_tuple(dict(item)) for item in entry.get("inputs", [])],
            outputs=outputs,
            output_types=[collapse_if_tuple(dict(item)) for item in outputs],
        )

    def encode(self, args: Sequence[Any]) -> str:
        """The call's data, 0x-prefixed."""
        if len(args) != len(self.input_types):
            raise TypeError(
                f"{self.name} takes {len(self.input_types)} arguments, {len(args)} given"
            )
        return "0x" + (self.selector + abi_encode(self.input_types, list(args))).hex()

    def decode(self, result: str | bytes) -> Any:
        """The call's return value: one value, or a tuple of several; structs as dicts."""
        values = abi_decode(self.output_types, _as_bytes(result))
        named = [_named(output, value) for output, value in zip(self.outputs, values, strict=True)]
        return named[0] if len(named) == 1 else tuple(named)


@dataclass(frozen=True)
class EventLayout:
    name: str
    indexed: list[tuple[str, str]]  # (name, type) in topic order
    data: list[tuple[str, str]]  # (name, type) in data order
    order: list[str]  # argument names in declaration order


class AbiCodec:
    """Every function and event of one contract's ABI."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self.functions: dict[str, FunctionLayout] = {}
        self._events: dict[bytes, EventLayout] = {}
        for entry in abi:
            if entry.get("type") == "function":
                self.functions[str(entry["name"])] = FunctionLayout.of(entry)
            elif entry.get("type") == "event" and not entry.get("anonymous", False):
                inputs = list(entry.get("inputs", []))
                topic = event_abi_to_log_topic(cast(Any, entry))
                self._events[bytes(topic)] = EventLayout(
                    name=str(entry["name"]),
                    indexed=[
                        (str(i["name"]), collapse_if_tuple(dict(i))) for i in inputs if i["indexed"]
                    ],
                    data=[
                        (str(i["name"]), collapse_if_tuple(dict(i)))
                        for i in inputs
                        if not i["indexed"]
                    ],
                    order=[str(i["name"]) for i in inputs],
                )

    def function(self, name: str) -> FunctionLayout:
        try:
            return self.functions[name]
        except KeyError:
            raise ValueError(f"the contract has no function {name!r}") from None

    def decode_log(self, raw: Mapping[str, Any]) -> EventData | None:
        """A log as web3's `process_log` decodes it; None for a log of no known event. Takes
        the RPC's raw JSON (hex strings) or web3's formatted receipt logs (bytes)."""
        topics = [_as_bytes(topic) for topic in raw.get("topics") or []]
        if not topics:
            return None
        layout = self._events.get(topics[0])
        if layout is None or len(topics) != len(layout.indexed) + 1:
            return None
        args: dict[str, Any] = {}
        for (name, abi_type), topic in zip(layout.indexed, topics[1:], strict=True):
            (value,) = abi_decode([abi_type], topic)
            args[name] = _checksummed(abi_type, value)
        values = abi_decode([abi_type for _, abi_type in layout.data], _as_bytes(raw["data"]))
        for (name, abi_type), value in zip(layout.data, values, strict=True):
            args[name] = _checksummed(abi_type, value)
        return cast(
            EventData,
            AttributeDict(
                {
                    "args": AttributeDict({name: args[name] for name in layout.order}),
                    "event": layout.name,
                    "logIndex": _as_int(raw["logIndex"]),
                    "transactionIndex": _as_int(raw["transactionIndex"]),
                    "transactionHash": HexBytes(raw["transactionHash"]),
                    "address": _checksum(str(raw["address"])),
                    "blockHash": HexBytes(raw["blockHash"]),
                    "blockNumber": _as_int(raw["blockNumber"]),
                }
            ),
        )


def _named(abi_output: Mapping[str, Any], value: Any) -> Any:
    """Turn ABI tuples (structs) into dicts keyed by component name, recursively."""
    abi_type: str = abi_output.get("type", "")
    components = abi_output.get("components")
    if components and abi_type.startswith("tuple"):
        if abi_type.endswith("]"):
            inner = dict(abi_output, type=abi_type[: abi_type.rindex("[")])
            return [_named(inner, item) for item in value]
        return {
            component.get("name") or f"field{index}": _named(component, item)
            for index, (component, item) in enumerate(zip(components, value, strict=True))
        }
    return value
