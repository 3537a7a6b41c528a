"""Fabric rows, and every ASN a fabric already uses (racks, ToRs, nodes)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller.asnrules import AsnUse
from fabric_controller.models import Fabric, NodeAsn, Rack, Tor


class FabricRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str, *, lock: bool = False) -> Fabric | None:
        """The fabric; ``lock`` takes its row lock, which serialises ASN decisions in it."""
        stmt = select(Fabric).where(Fabric.name == name)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def get_by_id(self, fabric_id: int, *, lock: bool = False) -> Fabric | None:
        stmt = select(Fabric).where(Fabric.id == fabric_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def lock(self, fabric_id: int) -> None:
        await self.session.execute(
            select(Fabric.id).where(Fabric.id == fabric_id).with_for_update()
        )

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Fabric]:
        rows = await self.session.scalars(select(Fabric).where(Fabric.id.in_(ids)))
        return {f.id: f for f in rows}

    async def page(self, *, after: str | None, limit: int) -> Sequence[Fabric]:
        stmt = select(Fabric).order_by(Fabric.name).limit(limit)
        if after is not None:
            stmt = stmt.where(Fabric.name > after)
        return (await self.session.scalars(stmt)).all()

    async def rack_count(self, fabric_id: int) -> int:
        stmt = select(func.count()).select_from(Rack).where(Rack.fabric_id == fabric_id)
        return int(await self.session.scalar(stmt) or 0)

    async def asn_uses(self, fabric_id: int) -> list[AsnUse]:
        """Every ASN in use in the fabric. ToRs are named ``rack/tor``."""
        racks = await self.session.execute(
            select(Rack.asn, Rack.name).where(Rack.fabric_id == fabric_id, Rack.asn.is_not(None))
        )
        tors = await self.session.execute(
            select(Tor.asn, Rack.name, Tor.name)
            .join(Rack, Tor.rack_id == Rack.id)
            .where(Rack.fabric_id == fabric_id)
        )
        nodes = await self.session.execute(
            select(NodeAsn.asn, NodeAsn.node).where(NodeAsn.fabric_id == fabric_id)
        )
        uses = [AsnUse(asn, "rack", name) for asn, name in racks if asn is not None]
        uses += [AsnUse(asn, "tor", f"{rack}/{tor}") for asn, rack, tor in tors]
        uses += [AsnUse(asn, "node", node) for asn, node in nodes]
        return uses

    async def add(self, fabric: Fabric) -> Fabric:
        self.session.add(fabric)
        await self.session.flush()
        await self.session.refresh(fabric)
        return fabric

    async def touch(self, fabric: Fabric) -> None:
        fabric.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(fabric)

    async def delete(self, fabric: Fabric) -> None:
        await self.session.delete(fabric)
        await self.session.flush()
