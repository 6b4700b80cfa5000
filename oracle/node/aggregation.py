"""The aggregated reveal: committee members hand each other their openings, one submits them all.

Once the commit phase is over nothing can be copied any more, so each member serves its opening
(digest and salt) at `GET <endpoint>/tasks/<id>/opening`, the endpoint it registered on chain.
The members still to reveal take turns, in committee order, at collecting them: the one whose
turn it is checks each against the commitment stored on chain and sends one `revealBatch`; if it
is behind, the next one's turn comes and it batches the openings (the late one's included). A
task then costs one reveal transaction instead of one per member (contracts/GAS.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx

from oracle.chain.client import ChainClient
from oracle.chain.views import TaskView, commitment, read_operator, read_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opening:
    """One member's opening of its commitment, as revealBatch takes it."""

    position: int
    operator: str
    digest: bytes
    salt: bytes

    def as_call_argument(self) -> tuple[int, str, bytes, bytes]:
        return (self.position, self.operator, self.digest, self.salt)


class PeerOpenings:
    """Fetches and checks the openings of other committee members."""

    def __init__(self, client: ChainClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self._endpoints: dict[str, str] = {}
        # One client for every fetch: a fresh one per request builds a TLS context each time,
        # which under load cost a node more CPU than the rest of its reveal step.
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def endpoint_of(self, operator: str) -> str:
        """The operator's registered endpoint (cached: it rarely changes, and a stale one only
        costs a failed fetch, after which the member reveals alone)."""
        if operator not in self._endpoints:
            self._endpoints[operator] = read_operator(self.client, operator).endpoint
        return self._endpoints[operator]

    def fetch(self, task_id: int, position: int, operator: str) -> Opening | None:
        """The member's opening if it serves one that matches its commitment on chain, else None
        (not ready yet, unreachable, or wrong: each is logged)."""
        endpoint = self.endpoint_of(operator).rstrip("/")
        url = f"{endpoint}/tasks/{task_id}/opening"
        try:
            response = self._http.get(url)
        except httpx.HTTPError as exc:
            log.info("task %d: no opening from %s (%s): %s", task_id, operator, url, exc)
            self._endpoints.pop(operator, None)  # re-read it next time
            return None
        if response.status_code != 200:
            log.info(
                "task %d: no opening from %s yet (%d %s)",
                task_id,
                operator,
                response.status_code,
                response.text[:200],
            )
            return None
        try:
            data = response.json()
            opening = Opening(
                position=int(data["position"]),
                operator=str(data["operator"]),
                digest=bytes.fromhex(str(data["digest"]).removeprefix("0x")),
                salt=bytes.fromhex(str(data["salt"]).removeprefix("0x")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("task %d: malformed opening from %s: %s", task_id, operator, exc)
            return None
        if not self._matches(task_id, position, operator, opening):
            if self._revealed(task_id, position):
                # It revealed (alone, or in another batch) since we looked: its commitment was
                # replaced by its digest on chain. Nothing is wrong with this peer.
                log.debug("task %d: %s revealed meanwhile", task_id, operator)
                return None
            log.warning(
                "task %d: %s served an opening that does not match its commitment; ignored",
                task_id,
                operator,
            )
            return None
        return opening

    def _revealed(self, task_id: int, position: int) -> bool:
        view = read_task(self.client, task_id)
        return view is not None and view.revealed[position]

    def _matches(self, task_id: int, position: int, operator: str, opening: Opening) -> bool:
        if opening.position != position or opening.operator.lower() != operator.lower():
            return False
        if len(opening.digest) != 32 or len(opening.salt) != 32:
            return False
        sealed = bytes(self.client.view("sealOf", task_id, position))
        expected = commitment(
            self.client.chain_id,
            self.client.address,
            task_id,
            operator,
            opening.digest,
            opening.salt,
        )
        return sealed == expected


@dataclass(frozen=True)
class RevealPlan:
    """What a member does now: look again after `wait_s`, or send `openings` (one: reveal alone;
    several: one revealBatch), noting `journal` entries (step, detail) first."""

    wait_s: float | None = None
    openings: list[Opening] = field(default_factory=list)
    journal: list[tuple[str, str]] = field(default_factory=list)


class RevealAggregator:
    """The members still to reveal take turns as the aggregator, in committee order, `turn_s`
    apart (counted from when this node saw the reveal phase): at its turn a member collects the
    others' openings and sends one revealBatch. Under load the first aggregator is often behind
    (its loop busy, its CPU shared with inference) while its API still serves its opening, so the
    next one takes over with that opening in the batch instead of everybody revealing alone. A
    member reveals alone only when no peer's opening can be had at its turn."""

    def __init__(self, peers: PeerOpenings, turn_s: float) -> None:
        self._peers = peers
        self._turn_s = turn_s
        self._phase_seen: dict[int, float] = {}  # task -> when we first could reveal
        self._collected: dict[int, dict[int, Opening]] = {}  # task -> position -> opening

    def plan(self, view: TaskView, own: Opening) -> RevealPlan:
        task_id = view.task_id
        waiting = [
            position
            for position in range(len(view.committee))
            if view.committed[position] and not view.revealed[position]
        ]
        now = time.monotonic()
        waited = now - self._phase_seen.setdefault(task_id, now)
        turn = waiting.index(own.position) * self._turn_s
        if waited < turn:
            return RevealPlan(wait_s=turn - waited)  # our DigestRevealed wakes us earlier
        collected = self._collected.setdefault(task_id, {})
        collected[own.position] = own
        for position in waiting:
            if position not in collected:
                peer = self._peers.fetch(task_id, position, view.committee[position])
                if peer is not None:
                    collected[position] = peer
        missing = [position for position in waiting if position not in collected]
        if missing and waited < turn + self._turn_s / 2:
            # Peers may not have seen the reveal phase yet.
            return RevealPlan(wait_s=min(0.2, self._turn_s / 10))
        journal = []
        if missing:
            absent = ", ".join(view.committee[position] for position in missing)
            journal.append(("batch_partial", f"no opening from {absent}"))
        openings = [collected[position] for position in waiting if position in collected]
        if len(openings) == 1:
            journal.append(("reveal_alone", "no peer opening at our turn"))
        return RevealPlan(openings=openings, journal=journal)

    def forget(self, task_id: int) -> None:
        self._phase_seen.pop(task_id, None)
        self._collected.pop(task_id, None)
