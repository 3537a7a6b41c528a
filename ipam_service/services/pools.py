"""Pool lifecycle: create, read, append CIDRs, edit reservations and subnets, delete, usage."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service import allocator
from ipam_service.errors import (
    Conflict,
    InvalidInput,
    PoolInUseConflict,
    PoolNotFound,
    PoolOverlapConflict,
)
from ipam_service.models import Pool, PoolCidr, PoolSubnet, Reservation
from ipam_service.repositories.pools import PoolRepository
from ipam_service.schemas import (
    IPNetwork,
    PoolCreate,
    PoolRead,
    PoolUpdate,
    PoolUsage,
    ReservationIn,
    ReservationRead,
    SubnetIn,
    SubnetRead,
)
from ipam_service.services import pooldefs
from ipam_service.services.dberrors import constraint_of


class PoolService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = PoolRepository(session)

    async def get_row(self, name: str) -> Pool:
        pool = await self.repo.get(name)
        if pool is None:
            raise PoolNotFound(f"pool {name!r} does not exist", field="pool")
        return pool

    async def create(self, spec: PoolCreate) -> PoolRead:
        family = pooldefs.family_of(spec.cidrs, spec.family)
        pooldefs.check_block_prefixlen(
            family=family, block_prefixlen=spec.block_prefixlen, cidrs=spec.cidrs
        )
        pooldefs.check_disjoint(spec.cidrs, field="cidrs")
        pooldefs.check_subnets(
            spec.subnets, family=family, block_prefixlen=spec.block_prefixlen, cidrs=spec.cidrs
        )
        ranges = self._reservations(spec.reservations, family=family, cidrs=spec.cidrs)
        if await self.repo.get(spec.name) is not None:
            raise Conflict(f"pool {spec.name!r} already exists", field="name")
        await self._refuse_overlap(spec.cidrs, field="cidrs")
        pool = Pool(
            name=spec.name,
            family=family,
            block_prefixlen=spec.block_prefixlen,
            description=spec.description,
        )
        try:
            await self.repo.add(pool)
            for position, net in enumerate(spec.cidrs):
                await self.repo.add(PoolCidr(pool_id=pool.id, cidr=net, position=position))
            await self._add_subnets(pool.id, spec.subnets, field="subnets")
            await self.repo.replace_reservations(
                pool.id, self._rows(pool, ranges, spec.reservations)
            )
        except IntegrityError as exc:
            raise self._conflict(exc, field="cidrs") from exc
        return (await self.read_many([pool]))[0]

    async def update(self, name: str, patch: PoolUpdate) -> PoolRead:
        pool = await self.get_row(name)
        await self.repo.lock(pool.id)
        current = [c.cidr for c in await self.repo.cidrs([pool.id])]
        if patch.add_cidrs:
            pooldefs.family_of(patch.add_cidrs, pool.family)
            pooldefs.check_block_prefixlen(
                family=pool.family, block_prefixlen=pool.block_prefixlen, cidrs=patch.add_cidrs
            )
            pooldefs.check_disjoint(
                current + patch.add_cidrs, field="add_cidrs", offset=-len(current)
            )
            await self._refuse_overlap(patch.add_cidrs, field="add_cidrs")
        cidrs = current + patch.add_cidrs
        pooldefs.check_subnets(
            patch.add_subnets,
            family=pool.family,
            block_prefixlen=pool.block_prefixlen,
            cidrs=cidrs,
            field="add_subnets",
        )
        try:
            for offset, net in enumerate(patch.add_cidrs):
                await self.repo.add(
                    PoolCidr(pool_id=pool.id, cidr=net, position=len(current) + offset)
                )
            for i, net in enumerate(patch.remove_subnets):
                await self._remove_subnet(pool, net, field=f"remove_subnets[{i}]")
            await self._add_subnets(pool.id, patch.add_subnets, field="add_subnets")
            if patch.reservations is not None:
                ranges = self._reservations(patch.reservations, family=pool.family, cidrs=cidrs)
                await self.repo.replace_reservations(
                    pool.id, self._rows(pool, ranges, patch.reservations)
                )
        except IntegrityError as exc:
            raise self._conflict(exc, field="add_cidrs") from exc
        if patch.reservations is not None or patch.remove_subnets:
            await self.repo.reset_hints(pool.id)
        if patch.description is not None:
            pool.description = patch.description
        return (await self.read_many([pool]))[0]

    async def delete(self, name: str) -> None:
        pool = await self.get_row(name)
        await self.repo.lock(pool.id)
        held = await self.repo.held_blocks(pool.id)
        if held:
            raise PoolInUseConflict(
                f"pool {name!r} still has {held} held block(s); release them first", field="name"
            )
        try:
            await self.repo.delete(pool)
        except IntegrityError as exc:
            raise PoolInUseConflict(
                f"pool {name!r} has block or ledger history and cannot be deleted", field="name"
            ) from exc

    async def usage(self, name: str) -> PoolUsage:
        pool = await self.get_row(name)
        cidrs = [c.cidr for c in await self.repo.cidrs([pool.id])]
        reserved = [(int(r.first), int(r.last)) for r in await self.repo.reservations([pool.id])]
        size = allocator.block_size(family=pool.family, prefixlen=pool.block_prefixlen)
        blocks_total = allocator.usable_blocks(cidrs=cidrs, size=size, excluded=reserved)
        held = await self.repo.held_blocks(pool.id)
        addresses = sum(n.num_addresses for n in cidrs)
        addresses -= allocator.reserved_addresses(cidrs=cidrs, excluded=reserved)
        used = await self.repo.live_leases(pool.id)
        return PoolUsage(
            pool=pool.name,
            family=pool.family,
            block_prefixlen=pool.block_prefixlen,
            blocks_total=blocks_total,
            blocks_held=held,
            blocks_free=blocks_total - held,
            addresses_total=addresses,
            addresses_used=used,
            addresses_free=addresses - used,
        )

    async def read_many(self, pools: Sequence[Pool]) -> list[PoolRead]:
        ids = [p.id for p in pools]
        cidrs = await self.repo.cidrs(ids)
        subnets = await self.repo.subnets(ids)
        reservations = await self.repo.reservations(ids)
        return [
            PoolRead(
                name=p.name,
                family=p.family,
                block_prefixlen=p.block_prefixlen,
                cidrs=[c.cidr for c in cidrs if c.pool_id == p.id],
                subnets=[
                    SubnetRead(cidr=s.cidr, node_selector=s.node_selector)
                    for s in subnets
                    if s.pool_id == p.id
                ],
                reservations=[
                    ReservationRead(first=r.first, last=r.last, description=r.description)
                    for r in reservations
                    if r.pool_id == p.id
                ],
                description=p.description,
                created_at=p.created_at,
            )
            for p in pools
        ]

    async def page(self, *, after: str | None, limit: int) -> list[PoolRead]:
        return await self.read_many(await self.repo.page(after=after, limit=limit))

    @staticmethod
    def _reservations(
        items: Sequence[ReservationIn], *, family: int, cidrs: Sequence[IPNetwork]
    ) -> list[tuple[int, int]]:
        return [
            pooldefs.reservation_range(r, index=i, family=family, cidrs=cidrs)
            for i, r in enumerate(items)
        ]

    @staticmethod
    def _rows(
        pool: Pool, ranges: Sequence[tuple[int, int]], items: Sequence[ReservationIn]
    ) -> list[Reservation]:
        return [
            Reservation(
                pool_id=pool.id,
                first=pooldefs.address(first, pool.family),
                last=pooldefs.address(last, pool.family),
                description=item.description,
            )
            for (first, last), item in zip(ranges, items, strict=True)
        ]

    async def _add_subnets(self, pool_id: int, subnets: Sequence[SubnetIn], *, field: str) -> None:
        for i, sub in enumerate(subnets):
            try:
                async with self.session.begin_nested():
                    await self.repo.add(
                        PoolSubnet(pool_id=pool_id, cidr=sub.cidr, node_selector=sub.node_selector)
                    )
            except IntegrityError as exc:
                raise PoolOverlapConflict(
                    f"subnet {sub.cidr} overlaps an existing subnet", field=f"{field}[{i}].cidr"
                ) from exc

    async def _remove_subnet(self, pool: Pool, net: IPNetwork, *, field: str) -> None:
        if await self.repo.held_blocks_within(pool.id, net):
            raise Conflict(f"subnet {net} still holds blocks", field=field)
        if not await self.repo.remove_subnet(pool.id, net):
            raise InvalidInput(f"pool {pool.name!r} has no subnet {net}", field=field)

    async def _refuse_overlap(self, cidrs: Sequence[IPNetwork], *, field: str) -> None:
        for i, net in enumerate(cidrs):
            stmt = (
                select(Pool.name, PoolCidr.cidr)
                .join(Pool, Pool.id == PoolCidr.pool_id)
                .where(PoolCidr.cidr.op("&&")(net))
                .limit(1)
            )
            row = (await self.session.execute(stmt)).first()
            if row is not None:
                raise PoolOverlapConflict(
                    f"{net} overlaps {row.cidr} of pool {row.name!r}", field=f"{field}[{i}]"
                )

    @staticmethod
    def _conflict(exc: IntegrityError, *, field: str) -> Conflict:
        name = constraint_of(exc)
        if name == "ex_pool_cidrs_overlap":
            return PoolOverlapConflict(
                "a CIDR overlaps another pool (concurrent change)", field=field
            )
        if name == "uq_pools_name":
            return Conflict("a pool with this name already exists", field="name")
        return Conflict(f"constraint {name or 'unknown'} refused the change", field=field)
