"""The agent's client of the central IPAM service (async httpx, ``ipam_service.schemas``).

Failures become the ``IpamError`` branch of :mod:`node_agent.errors`:

* no connection or a timeout: :class:`IpamUnavailable`; a 5xx: its subclass
  :class:`IpamServerError` (both: retry later);
* a 4xx: :class:`IpamRejected`, or the subclass named by the problem's slug.

Every call the agent makes is idempotent on the IPAM side (claims by request id,
ledger events by event id, node registration is an upsert), so a call whose reply
was lost may simply be repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ipam_service.schemas import (
    BgpSessionIn,
    BlockClaim,
    BlockRead,
    LedgerBatch,
    LedgerBatchResult,
    LedgerEventIn,
    NodeRead,
    NodeUpsert,
    Page,
)
from node_agent.errors import (
    IpamBlockConflict,
    IpamNodeNotFound,
    IpamPoolExhausted,
    IpamRejected,
    IpamServerError,
    IpamUnavailable,
)
from node_agent.podnet import IPNetwork

M = TypeVar("M", bound=BaseModel)

_BY_SLUG: dict[str, type[IpamRejected]] = {
    "node-not-found": IpamNodeNotFound,
    "pool-exhausted": IpamPoolExhausted,
    "block-in-use": IpamBlockConflict,
}


def _slug(body: Any) -> str:
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return str(kind).rsplit(":", 1)[-1]


class IpamClient:
    """One ``httpx.AsyncClient`` per agent; ``close()`` it at shutdown."""

    def __init__(
        self,
        *,
        base_url: str,
        node: str,
        token: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.node = node
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise IpamUnavailable(f"IPAM {method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise IpamServerError(f"IPAM {method} {path}: HTTP {response.status_code}")
        try:
            body = response.json() if response.content else {}
        except ValueError as exc:
            raise IpamUnavailable(f"IPAM {method} {path}: reply is not JSON") from exc
        if response.status_code >= 400:
            slug = _slug(body)
            detail = body.get("detail", "") if isinstance(body, dict) else ""
            cls = _BY_SLUG.get(slug, IpamRejected)
            raise cls(
                f"IPAM {method} {path}: HTTP {response.status_code} {slug}: {detail}",
                status=response.status_code,
                slug=slug,
            )
        return body

    async def register(self, spec: NodeUpsert) -> NodeRead:
        """``PUT /v1/nodes/{name}`` (an upsert)."""
        body = await self._call(
            "PUT", f"/v1/nodes/{self.node}", json=spec.model_dump(mode="json", exclude_none=True)
        )
        return _parse(NodeRead, body)

    async def report_bgp_sessions(self, sessions: Sequence[BgpSessionIn]) -> None:
        """``PUT /v1/nodes/{name}/bgp-sessions``: replaces the node's whole list (retry-safe)."""
        body = [s.model_dump(mode="json") for s in sessions]
        await self._call("PUT", f"/v1/nodes/{self.node}/bgp-sessions", json=body)

    async def claim_block(self, *, pool: str, request_id: str) -> BlockRead:
        """``POST /v1/nodes/{name}/blocks``; the same request id returns the same block."""
        claim = BlockClaim(pool=pool, request_id=request_id)
        body = await self._call(
            "POST", f"/v1/nodes/{self.node}/blocks", json=claim.model_dump(mode="json")
        )
        return _parse(BlockRead, body)

    async def release_block(self, cidr: IPNetwork, *, reason: str) -> None:
        """``DELETE /v1/nodes/{name}/blocks/{cidr}``; a block IPAM no longer has is fine."""
        try:
            await self._call(
                "DELETE", f"/v1/nodes/{self.node}/blocks/{cidr}", params={"reason": reason}
            )
        except IpamRejected as exc:
            if exc.status != 404 or exc.slug != "block-not-found":
                raise

    async def post_events(self, events: Sequence[dict[str, Any]]) -> LedgerBatchResult:
        """``POST /v1/ledger/events``: all or nothing, idempotent by event id."""
        try:
            batch = LedgerBatch(
                node=self.node, events=[LedgerEventIn.model_validate(e) for e in events]
            )
        except ValidationError as exc:
            raise IpamRejected(f"ledger event refused locally: {exc}", status=422) from exc
        body = await self._call("POST", "/v1/ledger/events", json=batch.model_dump(mode="json"))
        return _parse(LedgerBatchResult, body)

    async def held_blocks(self) -> list[BlockRead]:
        """``GET /v1/blocks?node=``: the blocks IPAM says this node holds (needs read access)."""
        found: list[BlockRead] = []
        cursor: str | None = None
        for _ in range(1000):
            params = {"node": self.node, "state": "held"} | ({"cursor": cursor} if cursor else {})
            page = _parse(Page[BlockRead], await self._call("GET", "/v1/blocks", params=params))
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        return found


def _parse(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise IpamUnavailable(f"IPAM reply is not a {model.__name__}: {exc}") from exc
