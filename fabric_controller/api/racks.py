"""/v1/racks: racks with their subnets and ToRs, and the nodes the rack label puts in them."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from fabric_controller.api.deps import (
    AfterQuery,
    LimitQuery,
    PlacementDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    WriterDep,
    page_size,
)
from fabric_controller.schemas import (
    RackCreate,
    RackNodeRead,
    RackRead,
    RackUpdate,
    TorCreate,
    TorRead,
)
from fabric_controller.services.racks import RackService
from ipam_service.schemas import Name, Page, Problem

router = APIRouter(
    prefix="/v1/racks",
    tags=["racks"],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"model": Problem}})
async def create_rack(
    spec: RackCreate, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> RackRead:
    rack = await RackService(session, settings).create(spec)
    await session.commit()
    return rack


@router.get("")
async def list_racks(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    fabric: Name | None = None,
    cursor: AfterQuery = None,
    limit: LimitQuery = 100,
) -> Page[RackRead]:
    size = page_size(settings, limit)
    items = await RackService(session, settings).page(after=cursor, limit=size, fabric=fabric)
    last = items[-1].name if len(items) == size else None
    return Page[RackRead](items=items, next_cursor=last)


@router.get("/{rack}", responses={404: {"model": Problem}})
async def get_rack(rack: str, session: SessionDep, settings: SettingsDep, _: ReaderDep) -> RackRead:
    return await RackService(session, settings).get(rack)


@router.patch("/{rack}", responses={404: {"model": Problem}, 409: {"model": Problem}})
async def update_rack(
    rack: str, patch: RackUpdate, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> RackRead:
    read = await RackService(session, settings).update(rack, patch)
    await session.commit()
    return read


@router.delete("/{rack}", status_code=NO_CONTENT, responses={404: {"model": Problem}})
async def delete_rack(
    rack: str, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> Response:
    await RackService(session, settings).delete(rack)
    await session.commit()
    return Response(status_code=NO_CONTENT)


@router.post(
    "/{rack}/tors",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def add_tor(
    rack: str, spec: TorCreate, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> TorRead:
    tor = await RackService(session, settings).add_tor(rack, spec)
    await session.commit()
    return tor


@router.delete("/{rack}/tors/{tor}", status_code=NO_CONTENT, responses={404: {"model": Problem}})
async def remove_tor(
    rack: str, tor: str, session: SessionDep, settings: SettingsDep, _: WriterDep
) -> Response:
    await RackService(session, settings).remove_tor(rack, tor)
    await session.commit()
    return Response(status_code=NO_CONTENT)


@router.get("/{rack}/nodes", responses={404: {"model": Problem}, 502: {"model": Problem}})
async def rack_nodes(
    rack: str, session: SessionDep, placement: PlacementDep, _: ReaderDep
) -> list[RackNodeRead]:
    """The nodes IPAM labels into this rack, with their ASNs and current blocks."""
    view = await placement.rack_view(rack)
    nodes = await placement.rack_nodes(view)
    await session.commit()  # per-node ASNs allocated on first use
    return [
        RackNodeRead(name=n.name, node_ip=n.node_ip, asn=asn, blocks=[b.cidr for b in n.blocks])
        for n, asn in nodes
    ]
