"""Claiming and releasing blocks: topology-aware, idempotent by request id, race-safe.

A claim is one statement: the ``ipam_claim_block`` database function (migration 0002)
looks up the node and the pool, answers a known request id with its first block, locks
the pool row (claims of one pool are serialised across every service process), searches
the node's rack subnets and then the shared space, inserts the block and moves the search
hint. Run in autocommit, the pool lock is held only for that server-side work and the
commit. The exclusion constraint on ``blocks`` stays the final word.
"""

from __future__ import annotations

import uuid
from typing import assert_never

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service import pagination
from ipam_service.errors import (
    BlockInUseConflict,
    BlockNotFound,
    Conflict,
    NodeNotFound,
    PoolExhausted,
    PoolNotFound,
    RequestIdConflict,
)
from ipam_service.models import Block, Pool
from ipam_service.repositories.blocks import BlockRepository
from ipam_service.repositories.claims import ClaimAnswer, ClaimRepository
from ipam_service.repositories.nodes import NodeRepository
from ipam_service.repositories.pools import PoolRepository
from ipam_service.schemas import BlockClaim, BlockRead, IPNetwork, Page
from ipam_service.services.dberrors import constraint_of
from ipam_service.statements import StatementConnection


def block_read(block: Block, *, pool: str, node: str) -> BlockRead:
    return BlockRead(
        cidr=block.cidr,
        pool=pool,
        node=node,
        request_id=block.request_id,
        claimed_at=block.claimed_at,
        released_at=block.released_at,
        release_reason=block.release_reason,
        state="held" if block.released_at is None else "released",
    )


def claim_read(answer: ClaimAnswer, *, pool: str, node: str, request_id: str) -> BlockRead:
    assert answer.cidr is not None
    assert answer.claimed_at is not None
    return BlockRead(
        cidr=answer.cidr,
        pool=pool,
        node=node,
        request_id=request_id,
        claimed_at=answer.claimed_at,
        released_at=answer.released_at,
        release_reason=answer.release_reason or "",
        state="held" if answer.released_at is None else "released",
    )


class BlockClaimer:
    """The claim path: one statement on a connection from ``Statements``."""

    def __init__(self, conn: StatementConnection) -> None:
        self.repo = ClaimRepository(conn)

    async def claim(self, node_name: str, req: BlockClaim) -> tuple[BlockRead, bool]:
        """Return (block, created). A known request id returns its first answer."""
        request_id = req.request_id or uuid.uuid4().hex
        try:
            answer = await self.repo.claim(node=node_name, pool=req.pool, request_id=request_id)
        except psycopg.errors.IntegrityError as exc:
            raise Conflict(
                f"the database refused a block of pool {req.pool!r} ({constraint_of(exc)})",
                field="pool",
            ) from exc
        match answer.outcome:
            case "created" | "replayed":
                read = claim_read(answer, pool=req.pool, node=node_name, request_id=request_id)
                return read, answer.outcome == "created"
            case "node-not-found":
                raise NodeNotFound(f"node {node_name!r} is not registered", field="name")
            case "pool-not-found":
                raise PoolNotFound(f"pool {req.pool!r} does not exist", field="pool")
            case "request-id-conflict":
                raise RequestIdConflict(
                    f"request id {request_id!r} was used for another pool", field="request_id"
                )
            case "exhausted":
                searched = ", ".join(str(c) for c in answer.searched or [])
                raise PoolExhausted(
                    f"pool {req.pool!r} has no free /{answer.prefixlen} block for node "
                    f"{node_name!r} (searched {searched})",
                    field="pool",
                )
        assert_never(answer.outcome)


class ClaimService:
    """Releases and listings of blocks (the ORM side of claims)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.pools = PoolRepository(session)
        self.nodes = NodeRepository(session)
        self.blocks = BlockRepository(session)

    async def release(
        self, node_name: str, cidr: IPNetwork, *, force: bool, reason: str
    ) -> BlockRead:
        node = await self.nodes.get_locked(node_name, write=False)  # before the pool row
        if node is None:
            raise NodeNotFound(f"node {node_name!r} is not registered", field="name")
        block = await self.blocks.held(node.id, cidr)
        if block is None:
            raise BlockNotFound(f"node {node_name!r} holds no block {cidr}", field="cidr")
        await self.pools.lock(block.pool_id)
        owners = await self.blocks.live_owners(block.id)
        if owners and not force:
            raise BlockInUseConflict(
                f"{owners} address(es) in {cidr} still have live owners; retry with force=true",
                field="cidr",
            )
        now = await self.nodes.now()
        await self.blocks.close_leases(
            block_ids=[block.id], at=now, reason=f"block released: {reason}"
        )
        await self.blocks.release(block, at=now, reason=reason)
        await self.pools.lower_hints(block.pool_id, cidr)
        pool = await self.session.get_one(Pool, block.pool_id)
        return block_read(block, pool=pool.name, node=node.name)

    async def page(
        self,
        *,
        after_id: int | None,
        limit: int,
        pool: str | None,
        node: str | None,
        state: str | None,
    ) -> Page[BlockRead]:
        rows = await self.blocks.page(
            after_id=after_id, limit=limit, pool=pool, node=node, state=state
        )
        items = [block_read(b, pool=p, node=n) for b, p, n in rows]
        cursor = pagination.encode(rows[-1][0].id) if len(rows) == limit else None
        return Page[BlockRead](items=items, next_cursor=cursor)
