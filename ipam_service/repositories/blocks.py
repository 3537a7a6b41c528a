"""Block rows: releases and listings (claims: ``repositories.claims``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import Block, Lease, Node, Pool
from ipam_service.schemas import IPNetwork

BlockRow = Row[Block, str, str]


def _with_names() -> Select[Block, str, str]:
    return (
        select(Block, Pool.name, Node.name)
        .join(Pool, Pool.id == Block.pool_id)
        .join(Node, Node.id == Block.node_id)
    )


class BlockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def held(self, node_id: int, cidr: IPNetwork) -> Block | None:
        stmt = select(Block).where(
            Block.node_id == node_id, Block.cidr == cidr, Block.released_at.is_(None)
        )
        return await self.session.scalar(stmt)

    async def held_by_nodes(self, node_ids: Sequence[int]) -> Sequence[BlockRow]:
        stmt = (
            _with_names()
            .where(Block.node_id.in_(node_ids), Block.released_at.is_(None))
            .order_by(Block.cidr)
        )
        return (await self.session.execute(stmt)).all()

    async def release(self, block: Block, *, at: datetime, reason: str) -> None:
        block.released_at = at
        block.release_reason = reason
        await self.session.flush()

    async def live_owners(self, block_id: int) -> int:
        stmt = select(func.count()).where(Lease.block_id == block_id, text("upper_inf(during)"))
        return int(await self.session.scalar(stmt) or 0)

    async def close_leases(self, *, block_ids: Sequence[int], at: datetime, reason: str) -> int:
        """Close every open lease of the blocks at ``at`` (never before the lease began)."""
        if not block_ids:
            return 0
        result = await self.session.execute(
            update(Lease)
            .where(Lease.block_id.in_(block_ids), text("upper_inf(during)"))
            .values(
                during=text(
                    "tstzrange(lower(during), greatest(CAST(:at AS timestamptz),"
                    " lower(during) + interval '1 microsecond'))"
                ),
                close_reason=reason,
            ),
            {"at": at},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def page(
        self,
        *,
        after_id: int | None,
        limit: int,
        pool: str | None,
        node: str | None,
        state: str | None,
    ) -> Sequence[BlockRow]:
        stmt = _with_names().order_by(Block.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(Block.id > after_id)
        if pool is not None:
            stmt = stmt.where(Pool.name == pool)
        if node is not None:
            stmt = stmt.where(Node.name == node)
        if state == "held":
            stmt = stmt.where(Block.released_at.is_(None))
        elif state == "released":
            stmt = stmt.where(Block.released_at.is_not(None))
        return (await self.session.execute(stmt)).all()
