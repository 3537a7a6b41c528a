"""Rows of ``node_bgp_sessions``: replace a node's set, read the sets of many nodes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.models import BgpSession
from ipam_service.schemas import BgpSessionIn


class BgpSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, node_id: int, sessions: Sequence[BgpSessionIn]) -> None:
        """The node's sessions become exactly ``sessions`` (the caller holds the node's lock)."""
        await self.session.execute(delete(BgpSession).where(BgpSession.node_id == node_id))
        if sessions:
            await self.session.execute(
                insert(BgpSession),
                [
                    {
                        "node_id": node_id,
                        "peer": s.peer,
                        "state": s.state,
                        "last_error": s.last_error,
                        "prefixes_sent": s.prefixes_sent,
                        "prefixes_acknowledged": s.prefixes_acknowledged,
                        "since": s.since,
                    }
                    for s in sessions
                ],
            )
        await self.session.flush()

    async def for_nodes(self, node_ids: Sequence[int]) -> Sequence[BgpSession]:
        if not node_ids:
            return []
        stmt = (
            select(BgpSession)
            .where(BgpSession.node_id.in_(node_ids))
            .order_by(BgpSession.node_id, BgpSession.peer)
        )
        return (await self.session.scalars(stmt)).all()
