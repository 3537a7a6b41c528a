"""Who owned an IP, when: point-in-time, history, per pod, and full export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service import pagination
from ipam_service.errors import InvalidInput
from ipam_service.repositories.audit import AuditRepository, Keyset, LeaseRow, OwnerLookup
from ipam_service.schemas import IPAddress, LeaseRead, OwnerAt, Page
from ipam_service.statements import StatementConnection


def lease_read(row: LeaseRow) -> LeaseRead:
    return LeaseRead(
        ip=row.ip,
        pool=row.pool,
        block=row.block,
        node=row.node,
        network=row.network,
        container_id=row.container_id,
        ifname=row.ifname,
        pod_namespace=row.pod_namespace,
        pod_name=row.pod_name,
        pod_uid=row.pod_uid,
        start=row.start,
        end=row.end,
        close_reason=row.close_reason,
    )


def _keyset(cursor: str | None) -> Keyset | None:
    key = pagination.decode(cursor, arity=2)
    if key is None:
        return None
    try:
        return datetime.fromisoformat(str(key[0])), int(key[1])
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not one this service issued", field="cursor") from None


def _page(rows: Sequence[LeaseRow], limit: int) -> Page[LeaseRead]:
    cursor = None
    if len(rows) == limit:
        cursor = pagination.encode(rows[-1].start.isoformat(), rows[-1].id)
    return Page[LeaseRead](items=[lease_read(r) for r in rows], next_cursor=cursor)


class OwnerLookupService:
    """Who owned an address at an instant: one statement (``Statements``)."""

    def __init__(self, conn: StatementConnection) -> None:
        self.repo = OwnerLookup(conn)

    async def owner_at(self, ip: IPAddress, at: datetime) -> OwnerAt:
        row = await self.repo.owner_at(ip, at)
        return OwnerAt(ip=ip, at=at, owner=None if row is None else LeaseRead.model_validate(row))


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = AuditRepository(session)

    async def history(self, ip: IPAddress, *, cursor: str | None, limit: int) -> Page[LeaseRead]:
        rows = await self.repo.history(ip, after=_keyset(cursor), limit=limit)
        return _page(rows, limit)

    async def by_pod(
        self, *, namespace: str, name: str, cursor: str | None, limit: int
    ) -> Page[LeaseRead]:
        rows = await self.repo.by_pod(
            namespace=namespace, name=name, after=_keyset(cursor), limit=limit
        )
        return _page(rows, limit)

    async def export(
        self, *, since: datetime | None, until: datetime | None, batch: int
    ) -> AsyncIterator[LeaseRead]:
        async for row in self.repo.export(since=since, until=until, batch=batch):
            yield lease_read(row)
