"""/v1/nodes and /v1/blocks: registration, claims, releases, listings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from ipam_service import pagination
from ipam_service.api.deps import (
    AdminDep,
    CursorQuery,
    LimitQuery,
    MetricsDep,
    PrincipalDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
    StatementsDep,
    limit_of,
)
from ipam_service.auth import Access, authorize
from ipam_service.errors import InvalidInput
from ipam_service.schemas import (
    BlockClaim,
    BlockRead,
    Cidr,
    NodeName,
    NodeRead,
    NodeUpsert,
    Page,
    Problem,
)
from ipam_service.services.claims import BlockClaimer, ClaimService
from ipam_service.services.nodes import NodeService

router = APIRouter(tags=["nodes"], responses={422: {"model": Problem}, 403: {"model": Problem}})
NamePath = Annotated[NodeName, Path()]


@router.put("/v1/nodes/{name}", responses={409: {"model": Problem}})
async def put_node(
    name: NamePath,
    spec: NodeUpsert,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
) -> NodeRead:
    authorize(principal, Access.NODE, node=name)
    node, created = await NodeService(session).upsert(name, spec)
    await session.commit()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return node


@router.get("/v1/nodes")
async def list_nodes(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
    label: Annotated[str | None, Query(description="key=value label filter")] = None,
) -> Page[NodeRead]:
    size = limit_of(settings, limit)
    key = pagination.decode(cursor, arity=1)
    selector = None
    if label is not None:
        k, sep, v = label.partition("=")
        if not sep or not k:
            raise InvalidInput("label filter must look like key=value", field="label")
        selector = (k, v)
    items = await NodeService(session).page(
        after=None if key is None else str(key[0]), limit=size, label=selector
    )
    next_cursor = pagination.encode(items[-1].name) if len(items) == size else None
    return Page[NodeRead](items=items, next_cursor=next_cursor)


@router.get("/v1/nodes/{name}", responses={404: {"model": Problem}})
async def get_node(name: NamePath, session: SessionDep, _: ReaderDep) -> NodeRead:
    return await NodeService(session).get(name)


@router.delete("/v1/nodes/{name}", responses={404: {"model": Problem}})
async def delete_node(
    name: NamePath,
    session: SessionDep,
    _: AdminDep,
    reason: Annotated[str, Query(max_length=256)] = "deleted by operator",
) -> NodeRead:
    node = await NodeService(session).delete(name, reason=reason)
    await session.commit()
    return node


@router.post(
    "/v1/nodes/{name}/blocks",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": BlockRead}, 404: {"model": Problem}, 409: {"model": Problem}},
)
async def claim_block(
    name: NamePath,
    req: BlockClaim,
    statements: StatementsDep,
    principal: PrincipalDep,
    metrics: MetricsDep,
    response: Response,
) -> BlockRead:
    authorize(principal, Access.NODE, node=name)
    try:
        async with statements.connection() as conn:
            block, created = await BlockClaimer(conn).claim(name, req)
    except Exception:
        metrics.claims.labels(req.pool, "error").inc()
        raise
    metrics.claims.labels(req.pool, "created" if created else "replayed").inc()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return block


@router.delete(
    "/v1/nodes/{name}/blocks/{cidr:path}",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def release_block(
    name: NamePath,
    cidr: Annotated[Cidr, Path()],
    session: SessionDep,
    principal: PrincipalDep,
    metrics: MetricsDep,
    force: bool = False,
    reason: Annotated[str, Query(max_length=256)] = "released",
) -> BlockRead:
    authorize(principal, Access.NODE, node=name)
    block = await ClaimService(session).release(name, cidr, force=force, reason=reason)
    await session.commit()
    metrics.releases.labels(block.pool).inc()
    return block


@router.get("/v1/blocks")
async def list_blocks(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    pool: str | None = None,
    node: str | None = None,
    state: Annotated[str | None, Query(pattern="^(held|released)$")] = "held",
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
) -> Page[BlockRead]:
    size = limit_of(settings, limit)
    key = pagination.decode(cursor, arity=1)
    service = ClaimService(session)
    return await service.page(
        after_id=None if key is None else int(key[0]), limit=size, pool=pool, node=node, state=state
    )
