"""The lifecycle loop's ``DepartureLog`` on the controller's database (``node_departures``).

A grace period runs from the moment a leader first saw the node gone. That moment is kept
here, not in the leader's memory: a new leader (failover, a rolling update of the
controller) continues the grace period of every node that was already gone instead of
starting it again, so frequent leader changes cannot keep a departed node's blocks
stranded. A node that is back, or released, is forgotten.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.models import NodeDeparture


class DepartureLog:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def gone_since(self, name: str, now: datetime) -> datetime:
        """Record ``now`` as the node's departure unless one is recorded; the recorded one."""
        async with self.sessionmaker() as session:
            await session.execute(
                insert(NodeDeparture)
                .values(node=name, gone_since=now)
                .on_conflict_do_nothing(index_elements=[NodeDeparture.node])
            )
            since = await session.scalar(
                select(NodeDeparture.gone_since).where(NodeDeparture.node == name)
            )
            await session.commit()
        return since if since is not None else now

    async def forget(self, name: str) -> None:
        """The node is back or released: its next departure starts a new grace period."""
        async with self.sessionmaker() as session:
            await session.execute(delete(NodeDeparture).where(NodeDeparture.node == name))
            await session.commit()
