"""Request-scoped dependencies and their short ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.auth import ADMIN, Access, Principal, Tokens, require
from fabric_controller.config import ControllerSettings
from fabric_controller.errors import InvalidInput
from fabric_controller.ipamclient import IpamClient
from fabric_controller.metrics import Metrics
from fabric_controller.services.placement import Placement


def _settings(request: Request) -> ControllerSettings:
    settings: ControllerSettings = request.app.state.settings
    return settings


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def _ipam(request: Request) -> IpamClient:
    ipam: IpamClient = request.app.state.ipam
    return ipam


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request. Endpoints commit; closing drops whatever they did not."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    session = maker()
    try:
        yield session
    finally:
        await session.close()


def _principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if request.app.state.settings.auth == "off":
        return ADMIN
    tokens: Tokens = request.app.state.tokens
    return tokens.authenticate(authorization)


SettingsDep = Annotated[ControllerSettings, Depends(_settings)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
IpamDep = Annotated[IpamClient, Depends(_ipam)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
PrincipalDep = Annotated[Principal, Depends(_principal)]


def _reader(principal: PrincipalDep) -> Principal:
    require(principal, Access.READ)
    return principal


def _writer(principal: PrincipalDep) -> Principal:
    require(principal, Access.WRITE)
    return principal


ReaderDep = Annotated[Principal, Depends(_reader)]
WriterDep = Annotated[Principal, Depends(_writer)]
AfterQuery = Annotated[str | None, Query(description="List names after this one (paging).")]
LimitQuery = Annotated[int, Query(ge=1, description="Most items in the answer.")]


def placement(session: SessionDep, settings: SettingsDep, ipam: IpamDep) -> Placement:
    return Placement(session, settings=settings, ipam=ipam)


PlacementDep = Annotated[Placement, Depends(placement)]


def page_size(settings: ControllerSettings, limit: int) -> int:
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit may be at most {settings.page_limit_max}", field="limit")
    return limit
