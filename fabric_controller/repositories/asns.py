"""Per-node ASN rows. ``uq_node_asns_fabric_id_asn`` is the final word on uniqueness."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller.models import NodeAsn


class NodeAsnRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_nodes(self, nodes: Sequence[str]) -> dict[str, NodeAsn]:
        rows = await self.session.scalars(select(NodeAsn).where(NodeAsn.node.in_(nodes)))
        return {row.node: row for row in rows}

    async def page(self, *, fabric_id: int, after: str | None, limit: int) -> Sequence[NodeAsn]:
        stmt = (
            select(NodeAsn)
            .where(NodeAsn.fabric_id == fabric_id)
            .order_by(NodeAsn.node)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(NodeAsn.node > after)
        return (await self.session.scalars(stmt)).all()

    async def insert(self, *, fabric_id: int, asns: dict[str, int]) -> list[NodeAsn]:
        """Record ``asns`` (node -> ASN) in one statement; return the new rows."""
        if not asns:
            return []
        values = [{"node": n, "fabric_id": fabric_id, "asn": a} for n, a in asns.items()]
        rows = await self.session.scalars(insert(NodeAsn).returning(NodeAsn), values)
        return list(rows)

    async def forget(self, nodes: Sequence[str]) -> int:
        """Drop the ASNs of ``nodes``; returns how many there were."""
        result = await self.session.execute(
            delete(NodeAsn).where(NodeAsn.node.in_(nodes)).returning(NodeAsn.node)
        )
        return len(result.all())
