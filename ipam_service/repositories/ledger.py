"""Lease rows and applied ledger events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import Block, Lease, LedgerEvent
from ipam_service.schemas import IPAddress


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        stmt = select(LedgerEvent.event_id).where(LedgerEvent.event_id.in_(event_ids))
        return set((await self.session.scalars(stmt)).all())

    async def holding_block(self, *, node_id: int, ip: IPAddress, at: datetime) -> Block | None:
        """The node's block that contains ``ip`` and was still held at ``at``."""
        stmt = (
            select(Block)
            .where(
                Block.node_id == node_id,
                Block.cidr.op(">>=")(ip),
                Block.released_at.is_(None) | (Block.released_at >= at),
            )
            .order_by(Block.claimed_at.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def open_lease(
        self, *, node_id: int, ip: IPAddress, container_id: str, ifname: str
    ) -> Lease | None:
        stmt = select(Lease).where(
            Lease.node_id == node_id,
            Lease.ip == str(ip),
            Lease.container_id == container_id,
            Lease.ifname == ifname,
            text("upper_inf(during)"),
        )
        return await self.session.scalar(stmt)

    async def add_lease(self, lease: Lease) -> None:
        self.session.add(lease)
        await self.session.flush()

    async def close(self, lease: Lease, *, at: datetime, event_id: uuid.UUID, reason: str) -> None:
        await self.session.execute(
            text(
                "UPDATE leases SET during = tstzrange(lower(during), greatest(:at,"
                " lower(during) + interval '1 microsecond')), close_event_id = :eid,"
                " close_reason = :reason WHERE id = :id"
            ),
            {"at": at, "eid": event_id, "reason": reason, "id": lease.id},
        )

    def record(self, event: LedgerEvent) -> None:
        self.session.add(event)
