"""Read-only queries over the ledger for auditors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from sqlalchemy import Row, Select, bindparam, func, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ipam_service.models import Block, Lease, Node, Pool
from ipam_service.schemas import IPAddress
from ipam_service.statements import StatementConnection

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

_AT = text("CAST(:at AS timestamptz)")
_candidate = aliased(Lease)
_LAST_STARTED = (
    select(_candidate.id)
    .where(_candidate.ip == bindparam("ip"), func.lower(_candidate.during) <= _AT)
    .order_by(func.lower(_candidate.during).desc())
    .limit(literal_column("1"))
    .scalar_subquery()
)
OWNER_AT = _lease_select().where(Lease.id == _LAST_STARTED, Lease.during.op("@>")(_AT))
"""The owner of ``ip`` at instant ``at``. Leases of one IP never overlap (the exclusion),
so the only lease that can hold ``at`` is the one that started last at or before it: one
short descent of ``ix_leases_ip_lower``, then a containment check."""
OWNER_AT_SQL = str(OWNER_AT.compile(dialect=PGDialect_psycopg()))  # type: ignore[no-untyped-call]
"""``OWNER_AT`` as psycopg gets it (named ``%(ip)s``, ``%(at)s`` placeholders); the audit
benchmark runs this very text as its bare-SQL reference."""


class OwnerLookup:
    """The point-in-time owner query, one statement on a connection from ``Statements``.

    The hottest read of the audit API; plain psycopg spares it the ORM session's own
    round trips (BEGIN, ROLLBACK) and result processing.
    """

    def __init__(self, conn: StatementConnection) -> None:
        self.conn = conn

    async def owner_at(self, ip: IPAddress, at: datetime) -> dict[str, Any] | None:
        """The lease row (columns as labelled in ``_lease_select``), or ``None``."""
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(OWNER_AT_SQL, {"ip": str(ip), "at": at})
            return await cur.fetchone()


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
