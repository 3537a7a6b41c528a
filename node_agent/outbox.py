"""Delivering the ledger events of the outbox to IPAM, in order, exactly once in effect.

Every allocation and release commits its ledger event to the outbox in the same
SQLite transaction. This loop sends the oldest events in batches to
``POST /v1/ledger/events`` and deletes them only after IPAM accepted the batch.
IPAM is idempotent by event id, so a batch whose reply was lost is simply sent
again: nothing is lost, nothing is doubled.

Failures::

    IPAM unreachable / 5xx       back off (ipam_retry_min doubling to ipam_retry_max), retry
    404 node not registered      register, then retry
    other 4xx for a batch        send its events one by one; an event refused on its
                                 own moves to dead_letters (logged, counted) so one
                                 bad event never blocks the queue
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

from node_agent.blocks import BlockManager
from node_agent.errors import IpamError, IpamNodeNotFound, IpamRejected, IpamUnavailable
from node_agent.parts import Parts
from node_agent.queries import Queries

log = logging.getLogger("flatnet.agent.outbox")


class Outbox:
    def __init__(self, parts: Parts, blocks: BlockManager) -> None:
        self.p = parts
        self.blocks = blocks
        self._wake = asyncio.Event()
        self.backoff = 0.0
        """Seconds of the current back-off (0 while IPAM answers)."""

    def poke(self) -> None:
        """New events were committed: deliver soon."""
        self._wake.set()

    async def drained(self, seconds: float) -> bool:
        """Wait until the outbox is empty (tests, graceful stop); False after ``seconds``."""
        self.poke()
        for _ in range(int(seconds / 0.05) + 1):
            if await self.p.store.transact(lambda q: q.outbox_depth()) == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def run(self) -> None:
        """The delivery loop; runs until cancelled (:meth:`Agent.stop` cancels it)."""
        s = self.p.settings
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=s.outbox_interval)
            self._wake.clear()
            if s.outbox_linger:
                await asyncio.sleep(s.outbox_linger)
            await self.deliver_all()

    async def deliver_all(self) -> None:
        """Send batches until the outbox is empty or IPAM stops answering."""
        s = self.p.settings
        for _ in range(1_000_000):
            sent = await self.deliver_once()
            if sent is None:
                self.backoff = min(max(self.backoff * 2, s.ipam_retry_min), s.ipam_retry_max)
                await asyncio.sleep(self.backoff)
                continue
            self.backoff = 0.0
            if sent == 0:
                return

    async def deliver_once(self) -> int | None:
        """Send one batch; the number of events settled, or ``None`` to back off."""
        p = self.p
        batch, depth = await p.store.transact(
            lambda q: (q.peek(p.settings.outbox_batch_size), q.outbox_depth())
        )
        p.metrics.outbox_depth.set(depth)
        if not batch:
            return 0
        try:
            await self._post([body for _, body in batch])
        except IpamUnavailable:
            return None
        except IpamNodeNotFound:
            try:
                await self.blocks.register()
            except IpamError:
                return None
            return await self.deliver_once()
        except IpamRejected as exc:
            return await self._one_by_one(batch, exc)
        last = batch[-1][0]
        await p.store.transact(lambda q: q.delete_through(last))
        p.metrics.outbox_sent.inc(len(batch))
        p.metrics.outbox_depth.set(depth - len(batch))
        return len(batch)

    async def _post(self, events: list[dict[str, Any]]) -> None:
        try:
            await self.p.ipam.post_events(events)
        except IpamError as exc:
            self.p.metrics.ipam_errors.labels("ledger").inc()
            if isinstance(exc, IpamUnavailable):
                self.p.health.ipam_failed(message=f"ledger: {exc}", now=self.p.clock())
            else:
                self.p.health.error(source="outbox", message=str(exc), now=self.p.clock())
            raise
        self.p.health.ipam_answered(now=self.p.clock())

    async def _one_by_one(
        self, batch: list[tuple[int, dict[str, Any]]], cause: Exception
    ) -> int | None:
        log.warning("ledger batch refused; sending one by one", extra={"error": str(cause)})
        p = self.p
        settled = 0
        for seq, body in batch:
            try:
                await self._post([body])
            except IpamUnavailable:
                return settled or None
            except IpamRejected as exc:
                await self._dead_letter(seq, body, exc)
            else:
                await p.store.transact(partial(_delete_through, seq=seq))
                p.metrics.outbox_sent.inc()
            settled += 1
        return settled

    async def _dead_letter(self, seq: int, body: dict[str, Any], exc: Exception) -> None:
        now, error = self.p.clock(), str(exc)
        await self.p.store.transact(lambda q: q.dead_letter(seq, error=error, now=now))
        self.p.metrics.dead_letters.inc()
        log.error(
            "ledger event refused by IPAM; moved to dead letters",
            extra={"event_id": body.get("event_id"), "ip": body.get("ip"), "error": error},
        )


def _delete_through(q: Queries, *, seq: int) -> None:
    q.delete_through(seq)
