"""Node registration (idempotent upsert), listing, and deletion with full release."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.errors import Conflict, NodeNotFound
from ipam_service.models import Node
from ipam_service.repositories.bgp_sessions import BgpSessionRepository
from ipam_service.repositories.blocks import BlockRepository
from ipam_service.repositories.nodes import NodeRepository
from ipam_service.repositories.pools import PoolRepository
from ipam_service.schemas import NodeRead, NodeUpsert
from ipam_service.services.bgp_sessions import session_read
from ipam_service.services.claims import block_read
from ipam_service.services.dberrors import constraint_of


class NodeService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = NodeRepository(session)
        self.blocks = BlockRepository(session)

    async def upsert(self, name: str, spec: NodeUpsert) -> tuple[NodeRead, bool]:
        """Register or update; return (node, created). Re-registering revives a deleted node."""
        other = await self.repo.ip_taken_by_other(name, str(spec.node_ip))
        if other is not None:
            raise Conflict(f"node_ip {spec.node_ip} belongs to node {other!r}", field="node_ip")
        existed = await self.repo.get(name) is not None
        values = {"node_ip": spec.node_ip, "labels": spec.labels, "asn": spec.asn}
        stmt = (
            insert(Node)
            .values(name=name, **values)
            .on_conflict_do_update(
                index_elements=[Node.name],
                set_={
                    **values,
                    "deleted_at": None,
                    "updated_at": func.now(),
                    "last_seen_at": func.now(),
                },
            )
            .returning(Node.id)
        )
        try:
            await self.session.execute(stmt)
        except IntegrityError as exc:
            raise Conflict(
                f"node_ip {spec.node_ip} is taken ({constraint_of(exc)})", field="node_ip"
            ) from exc
        node = await self.repo.get(name)
        assert node is not None
        await self.session.refresh(node)
        return (await self.read_many([node]))[0], not existed

    async def get(self, name: str) -> NodeRead:
        node = await self.repo.get(name)
        if node is None:
            raise NodeNotFound(f"node {name!r} is not registered", field="name")
        return (await self.read_many([node]))[0]

    async def page(
        self, *, after: str | None, limit: int, label: tuple[str, str] | None
    ) -> list[NodeRead]:
        return await self.read_many(await self.repo.page(after=after, limit=limit, label=label))

    async def delete(self, name: str, *, reason: str) -> NodeRead:
        """Release every block of the node and close its live ledger entries."""
        node = await self.repo.get_for_update(name)
        if node is None or node.deleted_at is not None:
            raise NodeNotFound(f"node {name!r} is not registered", field="name")
        held = await self.blocks.held_by_nodes([node.id])
        now = await self.repo.now()
        pools = PoolRepository(self.session)
        for pool_id in sorted({row[0].pool_id for row in held}):
            await pools.lock(pool_id)
        await self.blocks.close_leases(
            block_ids=[row[0].id for row in held], at=now, reason=f"node deleted: {reason}"
        )
        for block, _pool, _node in held:
            await self.blocks.release(block, at=now, reason=f"node deleted: {reason}")
            await pools.lower_hints(block.pool_id, block.cidr)
        node.deleted_at = now
        await self.session.flush()
        read = await self.read_many([node], include_blocks=False)
        read[0].blocks = [block_read(b, pool=p, node=n) for b, p, n in held]
        return read[0]

    async def read_many(
        self, nodes: Sequence[Node], *, include_blocks: bool = True
    ) -> list[NodeRead]:
        held = await self.blocks.held_by_nodes([n.id for n in nodes]) if include_blocks else []
        sessions = await BgpSessionRepository(self.session).for_nodes([n.id for n in nodes])
        return [
            NodeRead(
                name=n.name,
                node_ip=n.node_ip,
                labels=n.labels,
                asn=n.asn,
                created_at=n.created_at,
                updated_at=n.updated_at,
                last_seen_at=n.last_seen_at,
                blocks=[block_read(b, pool=p, node=nn) for b, p, nn in held if b.node_id == n.id],
                bgp_sessions=[session_read(s) for s in sessions if s.node_id == n.id],
            )
            for n in nodes
        ]
