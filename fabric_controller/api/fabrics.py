"""/v1/fabrics: the ASN model, the per-node range and the BGP policy of node sessions."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from fabric_controller.api.deps import (
    AfterQuery,
    LimitQuery,
    ReaderDep,
    SessionDep,
    SettingsDep,
    WriterDep,
    page_size,
)
from fabric_controller.schemas import FabricCreate, FabricRead, FabricUpdate, NodeAsnRead
from fabric_controller.services.asns import AsnService
from fabric_controller.services.fabrics import FabricService
from ipam_service.schemas import Page, Problem

router = APIRouter(
    prefix="/v1/fabrics",
    tags=["fabrics"],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"model": Problem}})
async def create_fabric(
    spec: FabricCreate, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> FabricRead:
    fabric = await FabricService(session, settings).create(spec)
    await session.commit()
    return fabric


@router.get("")
async def list_fabrics(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[FabricRead]:
    size = page_size(settings, limit)
    items = await FabricService(session, settings).page(after=cursor, limit=size)
    last = items[-1].name if len(items) == size else None
    return Page[FabricRead](items=items, next_cursor=last)


@router.get("/{name}", responses={404: {"model": Problem}})
async def get_fabric(
    name: str, session: SessionDep, settings: SettingsDep, _: ReaderDep
) -> FabricRead:
    return await FabricService(session, settings).get(name)


@router.patch("/{name}", responses={404: {"model": Problem}, 409: {"model": Problem}})
async def update_fabric(
    name: str, patch: FabricUpdate, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> FabricRead:
    fabric = await FabricService(session, settings).update(name, patch)
    await session.commit()
    return fabric


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def delete_fabric(
    name: str, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> Response:
    await FabricService(session, settings).delete(name)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/asns", responses={404: {"model": Problem}})
async def list_node_asns(
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[NodeAsnRead]:
    """The ASNs allocated to nodes of a per-node fabric."""
    size = page_size(settings, limit)
    fabric = await FabricService(session, settings).row(name)
    items = await AsnService(session).page(fabric=fabric, after=cursor, limit=size)
    last = items[-1].node if len(items) == size else None
    return Page[NodeAsnRead](items=items, next_cursor=last)
