"""The EIP-1559 fee rule every sender here uses (the deployer, the SDK and the node)."""

from __future__ import annotations


def fee_caps(base_fee: int, tip: int, max_fee_cap: int | None = None) -> tuple[int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas) for a transaction sent now.

    Twice the head block's base fee plus the tip: the transaction stays includable through six
    full blocks in a row (each raises the base fee by at most 12.5 %), and pays only the base fee
    of the block that includes it plus the tip. `max_fee_cap` (an operator's limit) lowers the
    ceiling; the caller decides whether base fee + tip above it means "do not send".
    """
    max_fee = 2 * base_fee + tip
    if max_fee_cap is not None:
        max_fee = min(max_fee, max_fee_cap)
    return max_fee, min(tip, max_fee)
