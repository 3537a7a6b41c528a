"""Pool rows and their CIDRs, subnets and reservations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import Block, Lease, Pool, PoolCidr, PoolSubnet, Reservation
from ipam_service.schemas import IPNetwork


class PoolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> Pool | None:
        return await self.session.scalar(select(Pool).where(Pool.name == name))

    async def lock(self, pool_id: int) -> None:
        """Serialise block claims of one pool across every service process."""
        await self.session.execute(select(Pool.id).where(Pool.id == pool_id).with_for_update())

    async def page(self, *, after: str | None, limit: int) -> Sequence[Pool]:
        stmt = select(Pool).order_by(Pool.name).limit(limit)
        if after is not None:
            stmt = stmt.where(Pool.name > after)
        return (await self.session.scalars(stmt)).all()

    async def cidrs(self, pool_ids: Sequence[int]) -> Sequence[PoolCidr]:
        stmt = select(PoolCidr).where(PoolCidr.pool_id.in_(pool_ids)).order_by(PoolCidr.position)
        return (await self.session.scalars(stmt)).all()

    async def subnets(self, pool_ids: Sequence[int]) -> Sequence[PoolSubnet]:
        stmt = select(PoolSubnet).where(PoolSubnet.pool_id.in_(pool_ids)).order_by(PoolSubnet.id)
        return (await self.session.scalars(stmt)).all()

    async def reservations(self, pool_ids: Sequence[int]) -> Sequence[Reservation]:
        stmt = (
            select(Reservation).where(Reservation.pool_id.in_(pool_ids)).order_by(Reservation.first)
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, row: Any) -> None:
        self.session.add(row)
        await self.session.flush()

    async def replace_reservations(self, pool_id: int, rows: Sequence[Reservation]) -> None:
        await self.session.execute(delete(Reservation).where(Reservation.pool_id == pool_id))
        self.session.add_all(rows)
        await self.session.flush()

    async def remove_subnet(self, pool_id: int, cidr: IPNetwork) -> int:
        result = await self.session.execute(
            delete(PoolSubnet).where(PoolSubnet.pool_id == pool_id, PoolSubnet.cidr == cidr)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, pool: Pool) -> None:
        await self.session.delete(pool)
        await self.session.flush()

    async def held_blocks(self, pool_id: int) -> int:
        stmt = select(func.count()).where(Block.pool_id == pool_id, Block.released_at.is_(None))
        return int(await self.session.scalar(stmt) or 0)

    async def held_blocks_within(self, pool_id: int, cidr: IPNetwork) -> int:
        stmt = select(func.count()).where(
            Block.pool_id == pool_id,
            Block.released_at.is_(None),
            Block.cidr.op("<<=")(cidr),
        )
        return int(await self.session.scalar(stmt) or 0)

    async def live_leases(self, pool_id: int) -> int:
        stmt = select(func.count()).where(Lease.pool_id == pool_id, text("upper_inf(during)"))
        return int(await self.session.scalar(stmt) or 0)

    async def reset_hints(self, pool_id: int) -> None:
        """Forget search hints after reservations or subnets change."""
        for model in (PoolCidr, PoolSubnet):
            await self.session.execute(
                update(model).where(model.pool_id == pool_id).values(next_hint=None)
            )

    async def lower_hints(self, pool_id: int, cidr: IPNetwork) -> None:
        """A released block may be the new first free block of every range that holds it."""
        for model in (PoolCidr, PoolSubnet):
            await self.session.execute(
                update(model)
                .where(
                    model.pool_id == pool_id,
                    model.cidr.op(">>=")(cidr),
                    (model.next_hint.is_(None)) | (model.next_hint > text("CAST(:start AS inet)")),
                )
                .values(next_hint=text("CAST(:start AS inet)")),
                {"start": str(cidr.network_address)},
            )
