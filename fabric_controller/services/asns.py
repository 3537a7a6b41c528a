"""Per-node ASNs: allocated on first use, lowest free first, kept until released.

Allocation locks the fabric's row, so concurrent requests (a node agent asking for its
peering while the ToR config is generated) queue; rows another request committed
meanwhile are read again after the lock. ``uq_node_asns_fabric_id_asn`` is the final
guard. A node that moved to a rack of another fabric gets a new ASN there.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller import asnrules
from fabric_controller.errors import InvalidInput
from fabric_controller.models import Fabric
from fabric_controller.repositories.asns import NodeAsnRepository
from fabric_controller.repositories.fabrics import FabricRepository
from fabric_controller.schemas import NodeAsnRead
from fabric_controller.services.constraints import violations


class AsnService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = NodeAsnRepository(session)
        self.fabrics = FabricRepository(session)

    async def _held(self, fabric: Fabric, nodes: Sequence[str]) -> tuple[dict[str, int], list[str]]:
        """(ASNs the nodes hold in this fabric, nodes holding one in another fabric)."""
        rows = await self.repo.of_nodes(nodes)
        here = {n: r.asn for n, r in rows.items() if r.fabric_id == fabric.id}
        elsewhere = [n for n, r in rows.items() if r.fabric_id != fabric.id]
        return here, elsewhere

    async def ensure(self, fabric: Fabric, nodes: Sequence[str]) -> dict[str, int]:
        """The ASN of each node of a per-node fabric, allocating those still missing."""
        span = fabric.node_range()
        if span is None:
            raise InvalidInput(f"fabric {fabric.name!r} uses one ASN per rack", field="fabric")
        held, _ = await self._held(fabric, nodes)
        if len(held) == len(set(nodes)):
            return held
        await self.fabrics.lock(fabric.id)
        held, elsewhere = await self._held(fabric, nodes)
        if elsewhere:
            await self.repo.forget(elsewhere)
        missing = sorted(set(nodes) - held.keys())
        taken = [use.asn for use in await self.fabrics.asn_uses(fabric.id)]
        fresh = asnrules.free_asns(span[0], span[1], taken=taken, count=len(missing))
        async with violations():
            rows = await self.repo.insert(
                fabric_id=fabric.id, asns=dict(zip(missing, fresh, strict=True))
            )
        return held | {row.node: row.asn for row in rows}

    async def release(self, node: str) -> bool:
        """Forget the node's ASN (the node left the cluster); False when it had none."""
        return await self.repo.forget([node]) > 0

    async def page(self, *, fabric: Fabric, after: str | None, limit: int) -> list[NodeAsnRead]:
        rows = await self.repo.page(fabric_id=fabric.id, after=after, limit=limit)
        return [
            NodeAsnRead(node=r.node, fabric=fabric.name, asn=r.asn, allocated_at=r.allocated_at)
            for r in rows
        ]
