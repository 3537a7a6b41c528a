"""What the running ExaBGP knows, per ToR session: state, sent and acknowledged prefixes.

``sent`` is what the speaker has told this ExaBGP for the session (announced and not
withdrawn since); ``acked`` is the part ExaBGP confirmed with ``done``. Acks arrive in
command order, so an ack only counts for prefixes still in ``sent``: an announce that
was overtaken by a withdraw never shows as acknowledged. Both sets start empty with
every new ExaBGP, whose adj-rib-out is empty; a session flap keeps them, because
ExaBGP keeps its routes and sends them again by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from functools import partial

from node_agent.announcer import PeerStatus, Prefix
from node_agent.bgp import commands
from node_agent.bgp.channel import ApiChannel
from node_agent.bgp.exabgp_conf import Session
from node_agent.bgp.metrics import SpeakerMetrics

log = logging.getLogger("flatnet.agent.bgp")

STATES = {"connected": "connecting", "up": "up", "down": "down"}
"""ExaBGP's state names -> the ones :class:`PeerStatus` reports."""


class PeerState:
    def __init__(self, session: Session, metrics: SpeakerMetrics, *, batch_size: int) -> None:
        self.session = session
        self.state = "down"
        self.since = time.time()
        self.last_error = ""
        self.sent: set[Prefix] = set()
        self.acked: set[Prefix] = set()
        self.eor_due = False
        """The session came up before the speaker knew what to announce: End-of-RIB owed."""
        self._notified = False
        self._metrics = metrics
        self._batch_size = batch_size
        self._label = str(session.peer)
        self._publish()

    def carries(self, prefix: Prefix) -> bool:
        return commands.family_of(prefix) in self.session.families

    # -- commands (the caller holds the speaker's write lock) ----------------------------

    def announce(
        self, channel: ApiChannel, prefixes: Iterable[Prefix]
    ) -> list[asyncio.Future[bool]]:
        futures = []
        for chunk in commands.chunks(filter(self.carries, prefixes), self._batch_size):
            next_hop = self.session.next_hops[commands.family_of(chunk[0])]
            future = channel.send(commands.announce(self.session.peer, chunk, next_hop=next_hop))
            self.sent.update(chunk)
            future.add_done_callback(partial(self._announced, chunk))
            futures.append(future)
        self._publish()
        return futures

    def withdraw(
        self, channel: ApiChannel, prefixes: Iterable[Prefix]
    ) -> list[asyncio.Future[bool]]:
        futures = []
        for chunk in commands.chunks(filter(self.carries, prefixes), self._batch_size):
            future = channel.send(commands.withdraw(self.session.peer, chunk))
            self.sent.difference_update(chunk)
            future.add_done_callback(partial(self._withdrawn, chunk))
            futures.append(future)
        self._publish()
        return futures

    def reconcile(
        self, channel: ApiChannel, desired: Collection[Prefix]
    ) -> list[asyncio.Future[bool]]:
        """Withdraw what ExaBGP has beyond ``desired``, announce what it lacks."""
        mine = {p for p in desired if self.carries(p)}
        extra = (self.sent | self.acked) - mine
        missing = mine - self.sent  # written is as good as done: a refusal leaves ``sent``
        return self.withdraw(channel, extra) + self.announce(channel, missing)

    def replay(
        self, channel: ApiChannel, desired: Collection[Prefix]
    ) -> list[asyncio.Future[bool]]:
        """Every desired prefix again (session up), whatever ExaBGP already has."""
        return self.announce(channel, desired)

    def end_of_rib(self, channel: ApiChannel) -> list[asyncio.Future[bool]]:
        self.eor_due = False
        return [
            channel.send(commands.end_of_rib(self.session.peer, f)) for f in self.session.families
        ]

    # -- acks -----------------------------------------------------------------------------

    def _announced(self, chunk: list[Prefix], future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        if future.result():
            self.acked.update(p for p in chunk if p in self.sent)
        else:  # refused: not in ExaBGP, so the next reconcile sends it again
            self.sent.difference_update(chunk)
        self._publish()

    def _withdrawn(self, chunk: list[Prefix], future: asyncio.Future[bool]) -> None:
        if not future.cancelled() and future.exception() is None and future.result():
            self.acked.difference_update(chunk)
            self._publish()

    # -- session state ----------------------------------------------------------------------

    def transition(self, exabgp_state: str, reason: str, now: float) -> None:
        state = STATES.get(exabgp_state, exabgp_state)
        if state != self.state:
            self.since = now
        self.state = state
        if state == "up":
            self._notified = False
        elif reason and not self._notified:  # the ToR's own words outrank later retries
            self.last_error = reason
        log.info(
            "BGP session %s%s", state, f": {reason}" if reason else "", extra={"peer": self._label}
        )
        self._metrics.session_changes.labels(peer=self._label, state=state).inc()
        self._publish()

    def notified(self, message: str) -> None:
        """The ToR sent a NOTIFICATION: its reason stays the last error until the next up."""
        self.fail(message)
        self._notified = True

    def fail(self, message: str) -> None:
        self.last_error = message
        log.warning("%s", message, extra={"peer": self._label})

    def reset(self, reason: str) -> None:
        """A new (or no) ExaBGP: nothing sent, nothing acknowledged, session down."""
        if self.state != "down":
            self.since = time.time()
        self.state = "down"
        self.sent.clear()
        self.acked.clear()
        self.eor_due = False
        if reason:
            self.last_error = reason
        self._publish()

    def status(self) -> PeerStatus:
        return PeerStatus(
            peer=self._label,
            state=self.state,
            last_error=self.last_error,
            prefixes_sent=len(self.sent),
            prefixes_acknowledged=len(self.acked),
            since=self.since,
        )

    def _publish(self) -> None:
        self._metrics.session_up.labels(peer=self._label).set(1 if self.state == "up" else 0)
        self._metrics.prefixes_sent.labels(peer=self._label).set(len(self.sent))
        self._metrics.prefixes_acknowledged.labels(peer=self._label).set(len(self.acked))
