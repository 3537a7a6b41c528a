"""The controller's adapter to the IPAM HTTP API (async httpx, IPAM's own wire models).

Every failure becomes an :class:`~fabric_controller.errors.ControllerError`: an answer
IPAM gave as problem+json keeps its status class (404 stays "not found", 409 a
conflict), and a transport failure or a 5xx is an :class:`UpstreamError` (502).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from fabric_controller.errors import (
    Conflict,
    ControllerError,
    Forbidden,
    InvalidInput,
    NotFound,
    UpstreamError,
)
from ipam_service.schemas import BlockRead, NodeRead, NodeUpsert, Page, PoolRead

M = TypeVar("M", bound=BaseModel)

_BY_STATUS: dict[int, type[ControllerError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


class IpamClient:
    """One connection pool to IPAM for the life of the controller. ``aclose()`` it."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        page_limit: int = 1000,
        max_pages: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._page_limit = page_limit
        self._max_pages = max_pages

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer when it is a success; a ControllerError otherwise."""
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"IPAM at {self._http.base_url} is unreachable: {exc}") from exc
        if response.status_code < 400:
            return response
        try:
            problem: Mapping[str, Any] = response.json()
        except ValueError:
            problem = {"detail": response.text[:200]}
        detail = f"IPAM answered {response.status_code}: {problem.get('detail', '')}"
        error = _BY_STATUS.get(response.status_code, UpstreamError)
        raise error(detail, field=problem.get("field"))

    async def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate_json((await self._send(method, path, **kwargs)).content)

    async def _collect(self, model: type[M], path: str, params: dict[str, str]) -> list[M]:
        """Every item of a paged listing, each page validated straight from its JSON bytes."""
        query: dict[str, str | int] = {**params, "limit": self._page_limit}
        items: list[M] = []
        for _ in range(self._max_pages):
            page = await self._one(Page[model], "GET", path, params=query)  # type: ignore[valid-type]
            items += page.items
            if not page.next_cursor:
                return items
            query["cursor"] = page.next_cursor
        raise UpstreamError(f"IPAM listing {path} did not end within {self._max_pages} pages")

    async def list_nodes(self, *, label: tuple[str, str] | None = None) -> list[NodeRead]:
        """Every live node (all pages), optionally only those with ``label`` = (key, value)."""
        params = {} if label is None else {"label": f"{label[0]}={label[1]}"}
        return await self._collect(NodeRead, "/v1/nodes", params)

    async def list_blocks(
        self, *, pool: str | None = None, node: str | None = None, state: str = "held"
    ) -> list[BlockRead]:
        """Every block in ``state`` (all pages), optionally of one pool or node."""
        params = {"state": state}
        params.update({k: v for k, v in (("pool", pool), ("node", node)) if v is not None})
        return await self._collect(BlockRead, "/v1/blocks", params)

    async def list_pools(self) -> list[PoolRead]:
        """Every pool (all pages) with its CIDRs and block length."""
        return await self._collect(PoolRead, "/v1/pools", {})

    async def get_node(self, name: str) -> NodeRead | None:
        """The node with its held blocks; None when IPAM does not know it."""
        try:
            return await self._one(NodeRead, "GET", f"/v1/nodes/{name}")
        except NotFound:
            return None

    async def upsert_node(self, name: str, spec: NodeUpsert) -> NodeRead:
        body = spec.model_dump(mode="json")
        return await self._one(NodeRead, "PUT", f"/v1/nodes/{name}", json=body)

    async def delete_node(self, name: str, *, reason: str) -> NodeRead:
        """Release every block of the node and close its ledger entries, recording ``reason``."""
        return await self._one(NodeRead, "DELETE", f"/v1/nodes/{name}", params={"reason": reason})
