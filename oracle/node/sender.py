"""The node's transactions: gas that always covers the step, the hash stored before it leaves,
and what became of it afterwards (pending, failed or lost)."""

from __future__ import annotations

import enum
from typing import Any

from oracle.chain.client import ChainClient, SentTransaction
from oracle.chain.reverts import ContractRevertError
from oracle.node.metrics import NodeMetrics
from oracle.node.store import Store


class Fate(enum.Enum):
    PENDING = "pending"
    """Mined and successful but not seen in the views yet, or still in the mempool."""
    FAILED = "failed"
    """Mined and reverted."""
    LOST = "lost"
    """Never sent, or forgotten by the RPC node (a restart drops its mempool)."""


class TransactionSender:
    def __init__(
        self,
        client: ChainClient,
        store: Store,
        metrics: NodeMetrics,
        *,
        max_callback_gas: int,
        max_pending_draws: int,
        confirmations: int,
    ) -> None:
        self._client = client
        self._store = store
        self._metrics = metrics
        self._max_callback_gas = max_callback_gas
        self.max_pending_draws = max_pending_draws
        self._confirmations = confirmations
        self._attempts: dict[tuple[int, str], int] = {}

    def send(
        self, task_id: int, step: str, committee_size: int, *args: Any, function: str | None = None
    ) -> SentTransaction:
        """Send one step's transaction (the contract function `function`, by default named like
        the step); its hash is stored before it is broadcast, so a crash cannot lose it. A
        refusal raises ContractRevertError (nothing was sent: sends are simulated first)."""
        floor = 0
        if step in ("reveal", "resolve"):
            floor = self.resolution_gas(committee_size)
        elif step == "commit":
            floor = self.commit_gas(committee_size)
        sent = self._client.send(
            function or step,
            *args,
            before_broadcast=lambda tx_hash: self._store.record_sent(task_id, step, tx_hash),
            gas_floor=floor,
        )
        self._metrics.transactions_sent.labels(step).inc()
        return sent

    def refused(self, task_id: int, step: str, error: ContractRevertError) -> int:
        """Record a refusal (journal and metric); returns how many times the step was refused."""
        self._metrics.reverts.labels(error.name).inc()
        self._store.journal(task_id, f"{step}_rejected", str(error))
        key = (task_id, step)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        return self._attempts[key]

    def fate(self, tx_hash: str | None) -> Fate:
        if tx_hash is None:
            return Fate.LOST
        receipt = self._client.receipt(tx_hash)
        if receipt is not None:
            return Fate.PENDING if receipt["status"] == 1 else Fate.FAILED
        return Fate.PENDING if self._client.is_known(tx_hash) else Fate.LOST

    def confirmed(self, tx_hash: str | None) -> bool:
        """Whether the transaction has the configured confirmations (always, with none)."""
        if tx_hash is None or self._confirmations == 0:
            return True
        receipt = self._client.receipt(tx_hash)
        return receipt is not None and self._client.is_confirmed(receipt)

    def forget(self, task_id: int) -> None:
        for key in [key for key in self._attempts if key[0] == task_id]:
            del self._attempts[key]

    def resolution_gas(self, committee_size: int) -> int:
        """Gas that always covers resolving a task: the payout loop plus the largest callback the
        contract allows (a reveal may turn out to be the last one, which resolves)."""
        return 150_000 + 30_000 * committee_size + self._max_callback_gas * 64 // 63 + 20_000

    def commit_gas(self, committee_size: int) -> int:
        """Gas that always covers a commit that also draws its task (whoever commits first
        draws, and which commit lands first is not known when it is estimated), plus the draws
        of the most tasks that can wait for theirs (the oracle's MAX_PENDING_DRAWS)."""
        return 80_000 + self.max_pending_draws * (30_000 + 25_000 * committee_size)
