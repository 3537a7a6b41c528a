"""Read-only queries over the ledger for auditors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import Block, Lease, Node, Pool
from ipam_service.schemas import IPAddress

LeaseRow = Row[*tuple[Any, ...]]  # columns as named in _lease_select()
LeaseSelect = Select[*tuple[Any, ...]]


def _lease_select() -> LeaseSelect:  # the row shape is LeaseRow
    return (
        select(
            Lease.id,
            Lease.ip,
            Pool.name.label("pool"),
            Block.cidr.label("block"),
            Node.name.label("node"),
            Lease.network,
            Lease.container_id,
            Lease.ifname,
            Lease.pod_namespace,
            Lease.pod_name,
            Lease.pod_uid,
            func.lower(Lease.during).label("start"),
            func.upper(Lease.during).label("end"),
            Lease.close_reason,
        )
        .join(Pool, Pool.id == Lease.pool_id)
        .join(Block, Block.id == Lease.block_id)
        .join(Node, Node.id == Lease.node_id)
    )


Keyset = tuple[datetime, int]


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def owner_at(self, ip: IPAddress, at: datetime) -> LeaseRow | None:
        """Served by the GiST index of the one-owner exclusion: (ip =, during @>)."""
        stmt = _lease_select().where(
            Lease.ip == str(ip), Lease.during.op("@>")(text("CAST(:at AS timestamptz)"))
        )
        row: LeaseRow | None = (await self.session.execute(stmt, {"at": at})).first()
        return row

    async def history(
        self, ip: IPAddress, *, after: Keyset | None, limit: int
    ) -> Sequence[LeaseRow]:
        stmt = _lease_select().where(Lease.ip == str(ip))
        return await self._page(stmt, after=after, limit=limit)

    async def by_pod(
        self, *, namespace: str, name: str, after: Keyset | None, limit: int
    ) -> Sequence[LeaseRow]:
        stmt = _lease_select().where(Lease.pod_namespace == namespace, Lease.pod_name == name)
        return await self._page(stmt, after=after, limit=limit)

    async def _page(
        self, stmt: LeaseSelect, *, after: Keyset | None, limit: int
    ) -> Sequence[LeaseRow]:
        start = func.lower(Lease.during)
        if after is not None:
            stmt = stmt.where(tuple_(start, Lease.id) > tuple_(after[0], after[1]))
        stmt = stmt.order_by(start, Lease.id).limit(limit)
        rows: Sequence[LeaseRow] = (await self.session.execute(stmt)).all()
        return rows

    async def export(
        self, *, since: datetime | None, until: datetime | None, batch: int
    ) -> AsyncIterator[LeaseRow]:
        """Every lease whose interval meets [since, until), oldest first, streamed."""
        stmt = _lease_select().where(
            Lease.during.op("&&")(
                func.tstzrange(
                    text("CAST(:since AS timestamptz)"), text("CAST(:until AS timestamptz)"), "[)"
                )
            )
        )
        stmt = stmt.order_by(func.lower(Lease.during), Lease.id).execution_options(yield_per=batch)
        result = await self.session.stream(stmt, {"since": since, "until": until})
        async for row in result:
            yield row
