"""Racks and their ToRs: subnets, ASNs and peering addresses, checked as one whole.

Every write locks the fabric's row first, so two requests cannot both pass the ASN
checks with the same ASN; the unique and exclusion constraints stay the final word.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller import asnrules
from fabric_controller.config import ControllerSettings
from fabric_controller.errors import InvalidInput, RackNotFound, TorNotFound
from fabric_controller.models import Fabric, Rack, Tor
from fabric_controller.repositories.fabrics import FabricRepository
from fabric_controller.repositories.racks import RackRepository
from fabric_controller.schemas import RackCreate, RackRead, RackUpdate, TorCreate, TorRead
from fabric_controller.services.constraints import violations
from fabric_controller.services.fabrics import FabricService

Network = IPv4Network | IPv6Network


def check_subnets(node: Sequence[Network], pool: Sequence[Network]) -> None:
    """Within one request: no repeats or overlaps, and pods apart from the node networks."""
    for field, cidrs in (("subnets", node), ("pool_subnets", pool)):
        for i, a in enumerate(cidrs):
            for b in cidrs[:i]:
                if a.version == b.version and a.overlaps(b):
                    raise InvalidInput(f"{a} overlaps {b}", field=f"{field}[{i}]")
    for i, a in enumerate(pool):
        for b in node:
            if a.version == b.version and a.overlaps(b):
                raise InvalidInput(
                    f"pool subnet {a} overlaps node subnet {b}", field=f"pool_subnets[{i}]"
                )


def check_tor_addresses(
    rack: str, tor: TorCreate, subnets: Sequence[Network], *, prefix: str
) -> None:
    """Each peering address lies inside one of the rack's node subnets, as a host address."""
    for field in ("address_v4", "address_v6"):
        address = getattr(tor, field)
        if address is None:
            continue
        home = next((s for s in subnets if s.version == address.version and address in s), None)
        if home is None:
            listed = ", ".join(str(s) for s in subnets) or "none"
            raise InvalidInput(
                f"ToR address {address} is outside every subnet of rack {rack} ({listed})",
                field=f"{prefix}{field}",
            )
        if home.num_addresses > 2 and address in {home.network_address, home.broadcast_address}:
            raise InvalidInput(
                f"{address} is not a host address of {home}", field=f"{prefix}{field}"
            )
    if tor.router_id is None and tor.address_v4 is None:
        raise InvalidInput("an IPv6-only ToR needs a router_id", field=f"{prefix}router_id")


def tor_read(tor: Tor, rack: str) -> TorRead:
    return TorRead(
        name=tor.name,
        rack=rack,
        asn=tor.asn,
        address_v4=tor.address_v4,
        address_v6=tor.address_v6,
        router_id=tor.bgp_router_id(),
    )


class RackService:
    def __init__(self, session: AsyncSession, settings: ControllerSettings) -> None:
        self.repo = RackRepository(session)
        self.fabrics = FabricRepository(session)
        self.fabric_service = FabricService(session, settings)
        self.reserved = settings.reserved_asns

    async def row(self, name: str) -> Rack:
        rack = await self.repo.get(name)
        if rack is None:
            raise RackNotFound(f"rack {name!r} does not exist", field="rack")
        return rack

    async def create(self, spec: RackCreate) -> RackRead:
        fabric = await self.fabric_service.row(spec.fabric, lock=True)
        check_subnets(spec.subnets, spec.pool_subnets)
        uses = await self.fabrics.asn_uses(fabric.id)
        if spec.asn is not None:
            asnrules.check_not_reserved(spec.asn, reserved=self.reserved, field="asn")
        asnrules.check_rack_asn(model=fabric.asn_model, rack=spec.name, asn=spec.asn, uses=uses)
        rack = Rack(
            name=spec.name,
            fabric_id=fabric.id,
            asn=spec.asn,
            peering=spec.peering,
            description=spec.description,
        )
        async with violations():
            await self.repo.add(rack)
            await self.repo.set_subnets(rack, role="node", cidrs=spec.subnets)
            await self.repo.set_subnets(rack, role="pool", cidrs=spec.pool_subnets)
        for i, tor in enumerate(spec.tors):
            await self._add_tor(fabric, rack, tor, subnets=spec.subnets, prefix=f"tors[{i}].")
        return (await self.read_many([rack]))[0]

    async def update(self, name: str, patch: RackUpdate) -> RackRead:
        rack = await self.row(name)
        fabric = await self.fabric_service.row_by_id(rack.fabric_id, lock=True)
        subnets = (await self.repo.subnets([rack.id]))[rack.id]
        node = patch.subnets if patch.subnets is not None else subnets["node"]
        pool = patch.pool_subnets if patch.pool_subnets is not None else subnets["pool"]
        check_subnets(node, pool)
        tors = (await self.repo.tors([rack.id]))[rack.id]
        for tor in tors:
            try:
                check_tor_addresses(
                    rack.name, TorCreate.model_validate(tor, from_attributes=True), node, prefix=""
                )
            except InvalidInput as exc:
                raise InvalidInput(f"ToR {tor.name}: {exc.detail}", field="subnets") from exc
        if patch.asn is not None:
            asnrules.check_not_reserved(patch.asn, reserved=self.reserved, field="asn")
            others = [u for u in await self.fabrics.asn_uses(fabric.id) if u.name != rack.name]
            asnrules.check_rack_asn(
                model=fabric.asn_model, rack=rack.name, asn=patch.asn, uses=others
            )
            rack.asn = patch.asn
        rack.peering = patch.peering or rack.peering
        if patch.description is not None:
            rack.description = patch.description
        async with violations():
            if patch.subnets is not None:
                await self.repo.set_subnets(rack, role="node", cidrs=node)
            if patch.pool_subnets is not None:
                await self.repo.set_subnets(rack, role="pool", cidrs=pool)
            await self.repo.touch(rack)
        return (await self.read_many([rack]))[0]

    async def delete(self, name: str) -> None:
        rack = await self.row(name)
        await self.fabrics.lock(rack.fabric_id)
        await self.repo.remove(rack)

    async def add_tor(self, rack_name: str, spec: TorCreate) -> TorRead:
        rack = await self.row(rack_name)
        fabric = await self.fabric_service.row_by_id(rack.fabric_id, lock=True)
        subnets = (await self.repo.subnets([rack.id]))[rack.id]["node"]
        return await self._add_tor(fabric, rack, spec, subnets=subnets, prefix="")

    async def _add_tor(
        self,
        fabric: Fabric,
        rack: Rack,
        spec: TorCreate,
        *,
        subnets: Sequence[Network],
        prefix: str,
    ) -> TorRead:
        check_tor_addresses(rack.name, spec, subnets, prefix=prefix)
        asnrules.check_not_reserved(spec.asn, reserved=self.reserved, field=f"{prefix}asn")
        asnrules.check_tor_asn(
            tor=spec.name,
            asn=spec.asn,
            rack_asn=rack.asn,
            node_range=fabric.node_range(),
            uses=await self.fabrics.asn_uses(fabric.id),
            field=f"{prefix}asn",
        )
        tor = Tor(rack_id=rack.id, **spec.model_dump())
        async with violations(prefix=prefix):
            await self.repo.add_tor(tor)
        await self.repo.touch(rack)
        return tor_read(tor, rack.name)

    async def remove_tor(self, rack_name: str, tor_name: str) -> None:
        rack = await self.row(rack_name)
        tor = await self.repo.get_tor(rack, tor_name)
        if tor is None:
            raise TorNotFound(f"rack {rack_name!r} has no ToR {tor_name!r}", field="tor")
        await self.repo.remove(tor)
        await self.repo.touch(rack)

    async def get(self, name: str) -> RackRead:
        return (await self.read_many([await self.row(name)]))[0]

    async def page(self, *, after: str | None, limit: int, fabric: str | None) -> list[RackRead]:
        fabric_id = None if fabric is None else (await self.fabric_service.row(fabric)).id
        racks = await self.repo.page(after=after, limit=limit, fabric_id=fabric_id)
        return await self.read_many(racks)

    async def read_many(self, racks: Sequence[Rack]) -> list[RackRead]:
        ids = [r.id for r in racks]
        subnets, tors = await self.repo.subnets(ids), await self.repo.tors(ids)
        fabrics = await self.fabrics.by_ids(sorted({r.fabric_id for r in racks}))
        return [
            RackRead(
                name=r.name,
                fabric=fabrics[r.fabric_id].name,
                asn=r.asn,
                subnets=subnets[r.id]["node"],
                pool_subnets=subnets[r.id]["pool"],
                peering=r.peering,
                tors=[tor_read(t, r.name) for t in tors[r.id]],
                description=r.description,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in racks
        ]
