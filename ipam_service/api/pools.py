"""/v1/pools: create, list, read, patch, delete, usage."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ipam_service import pagination
from ipam_service.api.deps import (
    AdminDep,
    CursorQuery,
    LimitQuery,
    ReaderDep,
    SessionDep,
    SettingsDep,
    limit_of,
)
from ipam_service.schemas import Page, PoolCreate, PoolRead, PoolUpdate, PoolUsage, Problem
from ipam_service.services.pools import PoolService

router = APIRouter(prefix="/v1/pools", tags=["pools"], responses={422: {"model": Problem}})


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"model": Problem}})
async def create_pool(spec: PoolCreate, session: SessionDep, _: AdminDep) -> PoolRead:
    pool = await PoolService(session).create(spec)
    await session.commit()
    return pool


@router.get("")
async def list_pools(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[PoolRead]:
    size = limit_of(settings, limit)
    key = pagination.decode(cursor, arity=1)
    items = await PoolService(session).page(after=None if key is None else str(key[0]), limit=size)
    next_cursor = pagination.encode(items[-1].name) if len(items) == size else None
    return Page[PoolRead](items=items, next_cursor=next_cursor)


@router.get("/{name}", responses={404: {"model": Problem}})
async def get_pool(name: str, session: SessionDep, _: ReaderDep) -> PoolRead:
    service = PoolService(session)
    return (await service.read_many([await service.get_row(name)]))[0]


@router.patch("/{name}", responses={404: {"model": Problem}, 409: {"model": Problem}})
async def update_pool(name: str, patch: PoolUpdate, session: SessionDep, _: AdminDep) -> PoolRead:
    pool = await PoolService(session).update(name, patch)
    await session.commit()
    return pool


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def delete_pool(name: str, session: SessionDep, _: AdminDep) -> Response:
    await PoolService(session).delete(name)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/usage", responses={404: {"model": Problem}})
async def pool_usage(name: str, session: SessionDep, _: ReaderDep) -> PoolUsage:
    return await PoolService(session).usage(name)
