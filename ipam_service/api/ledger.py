"""/v1/ledger/events and /v1/audit: the ownership ledger in and out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ipam_service.api.deps import (
    CursorQuery,
    LimitQuery,
    MetricsDep,
    PrincipalDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    StatementsDep,
    aware,
    limit_of,
    utcnow,
)
from ipam_service.auth import Access, authorize
from ipam_service.errors import InvalidInput
from ipam_service.schemas import (
    IP,
    LeaseRead,
    LedgerBatch,
    LedgerBatchResult,
    OwnerAt,
    Page,
    Problem,
)
from ipam_service.services.audit import AuditService, OwnerLookupService
from ipam_service.services.ledger import LedgerService

router = APIRouter(tags=["ledger"], responses={422: {"model": Problem}, 403: {"model": Problem}})
IpPath = Annotated[IP, Path(description="IPv4 or IPv6 address")]
EXPORT_FIELDS = list(LeaseRead.model_fields)


@router.post("/v1/ledger/events", responses={409: {"model": Problem}, 413: {"model": Problem}})
async def post_events(
    batch: LedgerBatch,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    metrics: MetricsDep,
) -> LedgerBatchResult:
    authorize(principal, Access.NODE, node=batch.node)
    result = await LedgerService(session, max_events=settings.max_batch_events).apply(batch)
    await session.commit()
    metrics.ledger_events.labels("applied").inc(result.applied)
    metrics.ledger_events.labels("duplicate").inc(result.duplicates)
    return result


@router.get("/v1/audit/ips/{ip}")
async def owner_at(
    ip: IpPath,
    statements: StatementsDep,
    _: ReaderDep,
    at: Annotated[datetime | None, Query(description="RFC 3339 instant; default now")] = None,
) -> OwnerAt:
    instant = aware(at, field="at") or utcnow()
    async with statements.connection() as conn:
        return await OwnerLookupService(conn).owner_at(ip, instant)


@router.get("/v1/audit/ips/{ip}/history")
async def ip_history(
    ip: IpPath,
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[LeaseRead]:
    return await AuditService(session).history(ip, cursor=cursor, limit=limit_of(settings, limit))


@router.get("/v1/audit/pods")
async def pod_history(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    namespace: Annotated[str, Query(min_length=1)],
    name: Annotated[str, Query(min_length=1)],
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[LeaseRead]:
    return await AuditService(session).by_pod(
        namespace=namespace, name=name, cursor=cursor, limit=limit_of(settings, limit)
    )


@router.get("/v1/audit/export", response_class=StreamingResponse)
async def export(
    request: Request,
    _: ReaderDep,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["csv", "ndjson"] = "ndjson",
) -> StreamingResponse:
    start, end = aware(since, field="since"), aware(until, field="until")
    if start is not None and end is not None and end < start:
        raise InvalidInput("until is before since", field="until")
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(_stream(maker, start, end, format), media_type=media)


async def _stream(
    maker: async_sessionmaker[AsyncSession],
    since: datetime | None,
    until: datetime | None,
    fmt: str,
) -> AsyncIterator[str]:
    """The export owns its session: it must outlive the request's dependencies."""
    async with maker() as session:
        if fmt == "csv":
            yield _csv_line(EXPORT_FIELDS)
        async for lease in AuditService(session).export(since=since, until=until, batch=1000):
            data = lease.model_dump(mode="json")
            if fmt == "csv":
                yield _csv_line(["" if data[k] is None else data[k] for k in EXPORT_FIELDS])
            else:
                yield json.dumps(data, separators=(",", ":")) + "\n"


def _csv_line(values: Sequence[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()
