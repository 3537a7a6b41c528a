"""/v1/nodes/{name}/bgp-sessions: the BGP sessions a node's agent reports, for the controller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from ipam_service.api.deps import PrincipalDep, ReaderDep, SessionDep
from ipam_service.auth import Access, authorize
from ipam_service.schemas import MAX_BGP_SESSIONS, BgpSessionIn, BgpSessionRead, NodeName, Problem
from ipam_service.services.bgp_sessions import BgpSessionService

router = APIRouter(tags=["nodes"], responses={422: {"model": Problem}, 403: {"model": Problem}})
NamePath = Annotated[NodeName, Path()]
SessionsBody = Annotated[
    list[BgpSessionIn],
    Body(
        max_length=MAX_BGP_SESSIONS,
        description="Every session of the node; the report replaces the previous one.",
    ),
]


@router.put("/v1/nodes/{name}/bgp-sessions", responses={404: {"model": Problem}})
async def put_bgp_sessions(
    name: NamePath, sessions: SessionsBody, session: SessionDep, principal: PrincipalDep
) -> list[BgpSessionRead]:
    """A node's agent reports its sessions (a ``node:<name>`` token may report only its own)."""
    authorize(principal, Access.NODE, node=name)
    read = await BgpSessionService(session).report(name, sessions)
    await session.commit()
    return read


@router.get("/v1/nodes/{name}/bgp-sessions", responses={404: {"model": Problem}})
async def get_bgp_sessions(
    name: NamePath, session: SessionDep, _: ReaderDep
) -> list[BgpSessionRead]:
    return await BgpSessionService(session).list(name)
