"""Node rows (soft-deleted, so history keeps its node)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import Node


class NodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str, *, include_deleted: bool = False) -> Node | None:
        stmt = select(Node).where(Node.name == name)
        if not include_deleted:
            stmt = stmt.where(Node.deleted_at.is_(None))
        return await self.session.scalar(stmt)

    async def get_locked(self, name: str, *, write: bool) -> Node | None:
        """A live node, its row locked until the transaction ends: ``FOR NO KEY UPDATE``
        (``write``: ledger batches and BGP session reports, which update the row) or
        ``FOR SHARE`` (block releases, ``ClaimService.release``).

        Lock order: a transaction that locks a node row and a pool row locks the node
        first, as ``ipam_claim_block`` and node deletion do; taking the pool first (even
        ``FOR KEY SHARE``, through a lease's foreign key) deadlocks against a claim.
        """
        stmt = select(Node).where(Node.name == name, Node.deleted_at.is_(None))
        return await self.session.scalar(stmt.with_for_update(read=not write, key_share=write))

    async def get_for_update(self, name: str) -> Node | None:
        stmt = select(Node).where(Node.name == name).with_for_update()
        return await self.session.scalar(stmt)

    async def ip_taken_by_other(self, name: str, node_ip: str) -> str | None:
        stmt = select(Node.name).where(
            Node.node_ip == node_ip, Node.deleted_at.is_(None), Node.name != name
        )
        return await self.session.scalar(stmt)

    async def page(
        self, *, after: str | None, limit: int, label: tuple[str, str] | None
    ) -> Sequence[Node]:
        stmt = select(Node).where(Node.deleted_at.is_(None)).order_by(Node.name).limit(limit)
        if after is not None:
            stmt = stmt.where(Node.name > after)
        if label is not None:
            stmt = stmt.where(Node.labels.contains({label[0]: label[1]}))
        return (await self.session.scalars(stmt)).all()

    async def touch(self, node: Node) -> None:
        node.last_seen_at = await self.now()
        await self.session.flush()

    async def now(self) -> datetime:
        value: datetime | None = await self.session.scalar(select(func.now()))
        assert value is not None
        return value
