"""BGP session reports: a node's agent replaces its node's sessions; readers list them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.errors import InvalidInput, NodeNotFound
from ipam_service.models import BgpSession, Node
from ipam_service.repositories.bgp_sessions import BgpSessionRepository
from ipam_service.repositories.nodes import NodeRepository
from ipam_service.schemas import BgpSessionIn, BgpSessionRead


def session_read(row: BgpSession) -> BgpSessionRead:
    return BgpSessionRead.model_validate(row, from_attributes=True)


class BgpSessionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.nodes = NodeRepository(session)
        self.repo = BgpSessionRepository(session)

    async def report(self, name: str, sessions: Sequence[BgpSessionIn]) -> list[BgpSessionRead]:
        """Replace the node's sessions with ``sessions``; a report also counts as a sign of
        life (``last_seen_at``). Reports of one node are serialised by its row lock."""
        seen: dict[object, int] = {}
        for index, item in enumerate(sessions):
            if item.peer in seen:
                raise InvalidInput(
                    f"peer {item.peer} is reported twice (items {seen[item.peer]} and {index})",
                    field=f"[{index}].peer",
                )
            seen[item.peer] = index
        node = await self._live(name, lock=True)
        await self.repo.replace(node.id, sessions)
        await self.nodes.touch(node)
        return await self._read(node)

    async def _live(self, name: str, *, lock: bool) -> Node:
        node = await (self.nodes.get_locked(name, write=True) if lock else self.nodes.get(name))
        if node is None:
            raise NodeNotFound(f"node {name!r} is not registered", field="name")
        return node

    async def _read(self, node: Node) -> list[BgpSessionRead]:
        return [session_read(row) for row in await self.repo.for_nodes([node.id])]

    # last in the class: below it, ``list`` in an annotation would name this method
    async def list(self, name: str) -> list[BgpSessionRead]:
        return await self._read(await self._live(name, lock=False))
