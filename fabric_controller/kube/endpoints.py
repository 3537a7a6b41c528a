"""HTTP endpoints of the namespace pool map (mounted by the controller's app).

Node agents poll these to honour the ``flatnet.io/pool`` namespace annotation. Both answers
carry an ETag (the map's version): ``If-None-Match`` with the current one gets 304, so
polling costs almost nothing. Any authenticated caller may read, node tokens included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from pydantic import BaseModel, Field

from fabric_controller.api.deps import PrincipalDep
from fabric_controller.kube.errors import NamespaceNotFound, NamespacesUnsyncedError
from fabric_controller.kube.namespaces import NamespacePool, NamespacePools
from ipam_service.schemas import Problem

router = APIRouter(prefix="/v1", tags=["namespaces"], responses={503: {"model": Problem}})


class NamespacePoolRead(BaseModel):
    namespace: str
    pool: str | None = Field(description="Pool of the namespace's pods; null: the default pool.")
    error: str | None = Field(
        default=None, description="Why the namespace's annotation was not taken, if it was not."
    )

    @classmethod
    def of(cls, entry: NamespacePool) -> NamespacePoolRead:
        return cls(namespace=entry.namespace, pool=entry.pool, error=entry.error)


class NamespacePoolList(BaseModel):
    version: int = Field(description="Moves at every change of the map (also the ETag).")
    items: list[NamespacePoolRead]


def synced_pools(request: Request) -> NamespacePools:
    pools: NamespacePools | None = getattr(request.app.state, "namespace_pools", None)
    if pools is None:
        raise NamespacesUnsyncedError(
            "the namespace watch is not running (FLATNET_CONTROLLER_KUBE__ENABLED=true)"
        )
    if not pools.synced:
        raise NamespacesUnsyncedError("the namespace watch has not listed namespaces yet")
    return pools


def _etag(pools: NamespacePools) -> str:
    return f'"{pools.version}"'


@router.get(
    "/namespace-pools",
    response_model=NamespacePoolList,
    responses={304: {"description": "Not modified"}},
)
async def list_namespace_pools(
    request: Request,
    response: Response,
    _: PrincipalDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> NamespacePoolList | Response:
    """Every namespace with the pool its pods get addresses from."""
    pools = synced_pools(request)
    etag = _etag(pools)
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    items = [NamespacePoolRead.of(entry) for entry in pools.items()]
    return NamespacePoolList(version=pools.version, items=items)


@router.get("/namespaces/{namespace}/pool", responses={404: {"model": Problem}})
async def get_namespace_pool(
    request: Request,
    response: Response,
    _: PrincipalDep,
    namespace: Annotated[str, Path(max_length=63)],
) -> NamespacePoolRead:
    """The pool of one namespace's pods (null: the agent's default pool)."""
    pools = synced_pools(request)
    entry = pools.get(namespace)
    if entry is None:
        raise NamespaceNotFound(f"namespace {namespace!r} does not exist", field="namespace")
    response.headers["ETag"] = _etag(pools)
    return NamespacePoolRead.of(entry)
