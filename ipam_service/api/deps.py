"""Request-scoped dependencies with short ``Annotated`` aliases.

Every dependency is ``async def``, even when it awaits nothing: FastAPI runs a plain
``def`` dependency in a worker thread, a thread hand-off on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ipam_service.auth import ADMIN, Access, Principal, TokenTable, authorize
from ipam_service.config import IpamSettings
from ipam_service.errors import InvalidInput
from ipam_service.metrics import Metrics
from ipam_service.statements import Statements


async def get_settings(request: Request) -> IpamSettings:
    settings: IpamSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise


async def get_statements(request: Request) -> Statements:
    statements: Statements = request.app.state.statements
    return statements


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    settings: IpamSettings = request.app.state.settings
    if settings.auth == "off":
        return ADMIN
    tokens: TokenTable = request.app.state.tokens
    return tokens.principal(authorization)


SettingsDep = Annotated[IpamSettings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
StatementsDep = Annotated[Statements, Depends(get_statements)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
CursorQuery = Annotated[str | None, Query(description="Opaque cursor from next_cursor.")]
LimitQuery = Annotated[int | None, Query(ge=1, description="Page size.")]


async def reader(principal: PrincipalDep) -> Principal:
    authorize(principal, Access.READ)
    return principal


async def admin(principal: PrincipalDep) -> Principal:
    authorize(principal, Access.ADMIN)
    return principal


ReaderDep = Annotated[Principal, Depends(reader)]
AdminDep = Annotated[Principal, Depends(admin)]


def limit_of(settings: IpamSettings, limit: int | None) -> int:
    if limit is None:
        return settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit may be at most {settings.page_limit_max}", field="limit")
    return limit


def aware(value: datetime | None, *, field: str) -> datetime | None:
    """Times without a zone are refused: an audit answer must not depend on a guess."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (RFC 3339, e.g. ...Z)", field=field)
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)
