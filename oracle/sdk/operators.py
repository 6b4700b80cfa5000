"""An operator as anyone may read it: its on-chain record, what it may claim and what it holds.

Shared by the CLI (`genoracle operator status`) and the node's HTTP API (which serves this
dataclass as the body of `/operator/status`), so both name an operator's fields as the chain view
does: `oracle.chain.views.OperatorView` is their one home.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, TypeAdapter

from oracle.chain.client import ChainClient
from oracle.chain.views import OperatorView, read_operator


def _hex_ids(model_ids: tuple[bytes, ...]) -> list[str]:
    return ["0x" + model_id.hex() for model_id in model_ids]


@dataclass(frozen=True)
class OperatorStatus(OperatorView):
    """`OperatorView`, field for field, plus the operator's credit and balance."""

    # The view's own field, typed alike; only its JSON form is given here (0x-hex ids).
    models: Annotated[
        tuple[bytes, ...],
        PlainSerializer(_hex_ids),
        Field(description="The models it serves, by modelId (0x-hex)"),
    ] = ()
    credit_wei: Annotated[
        int, Field(description="Fees and rewards credited to it, to withdraw with `claim`")
    ] = 0
    balance_wei: Annotated[int, Field(description="The account's ether balance")] = 0

    def to_json(self) -> dict[str, Any]:
        json_form: dict[str, Any] = TypeAdapter(type(self)).dump_python(self, mode="json")
        return json_form


def operator_status(client: ChainClient, address: str) -> OperatorStatus:
    """The operator's record as the chain reports it now, with its credit and balance."""
    view = read_operator(client, address)
    return OperatorStatus(
        **{item.name: getattr(view, item.name) for item in fields(view)},
        credit_wei=int(client.view("creditOf", view.address)),
        balance_wei=client.balance(view.address),
    )
