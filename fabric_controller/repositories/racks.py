"""Rack rows with their subnets and ToRs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller.models import Fabric, Rack, RackSubnet, Tor

Network = IPv4Network | IPv6Network


class RackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> Rack | None:
        return await self.session.scalar(select(Rack).where(Rack.name == name))

    async def with_fabric(self, name: str) -> tuple[Rack, Fabric] | None:
        """The rack and its fabric in one round trip."""
        stmt = select(Rack, Fabric).join(Fabric, Rack.fabric_id == Fabric.id)
        row = (await self.session.execute(stmt.where(Rack.name == name))).first()
        return None if row is None else (row[0], row[1])

    async def page(
        self, *, after: str | None, limit: int, fabric_id: int | None = None
    ) -> Sequence[Rack]:
        stmt = select(Rack).order_by(Rack.name).limit(limit)
        if after is not None:
            stmt = stmt.where(Rack.name > after)
        if fabric_id is not None:
            stmt = stmt.where(Rack.fabric_id == fabric_id)
        return (await self.session.scalars(stmt)).all()

    async def subnets(self, rack_ids: Sequence[int]) -> dict[int, dict[str, list[Network]]]:
        """rack id -> role ('node' | 'pool') -> CIDRs, in address order."""
        rows = await self.session.scalars(
            select(RackSubnet)
            .where(RackSubnet.rack_id.in_(rack_ids))
            .order_by(RackSubnet.rack_id, RackSubnet.cidr)
        )
        found: dict[int, dict[str, list[Network]]] = {i: {"node": [], "pool": []} for i in rack_ids}
        for row in rows:
            found[row.rack_id][row.role].append(row.cidr)
        return found

    async def tors(self, rack_ids: Sequence[int]) -> dict[int, list[Tor]]:
        rows = await self.session.scalars(
            select(Tor).where(Tor.rack_id.in_(rack_ids)).order_by(Tor.name)
        )
        found: dict[int, list[Tor]] = {i: [] for i in rack_ids}
        for tor in rows:
            found[tor.rack_id].append(tor)
        return found

    async def add(self, rack: Rack) -> Rack:
        self.session.add(rack)
        await self.session.flush()
        await self.session.refresh(rack)
        return rack

    async def set_subnets(self, rack: Rack, *, role: str, cidrs: Iterable[Network]) -> None:
        """Replace the rack's subnets of ``role``; the exclusion constraints judge overlap."""
        await self.session.execute(
            delete(RackSubnet).where(RackSubnet.rack_id == rack.id, RackSubnet.role == role)
        )
        self.session.add_all(RackSubnet(rack_id=rack.id, role=role, cidr=c) for c in cidrs)
        await self.session.flush()

    async def touch(self, rack: Rack) -> None:
        rack.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(rack)

    async def add_tor(self, tor: Tor) -> Tor:
        self.session.add(tor)
        await self.session.flush()
        await self.session.refresh(tor)
        return tor

    async def get_tor(self, rack: Rack, name: str) -> Tor | None:
        return await self.session.scalar(
            select(Tor).where(Tor.rack_id == rack.id, Tor.name == name)
        )

    async def remove(self, row: Rack | Tor) -> None:
        await self.session.delete(row)
        await self.session.flush()
