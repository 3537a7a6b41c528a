"""Applying node agents' allocate/release event batches to the ownership ledger.

A batch is all-or-nothing. Event ids make it idempotent: an id seen before is
counted as a duplicate and changes nothing, so an agent may resend a batch freely.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service.errors import InvalidInput, NodeNotFound, OwnershipConflict, PayloadTooLarge
from ipam_service.models import Lease, LedgerEvent, Node
from ipam_service.repositories.ledger import LedgerRepository
from ipam_service.repositories.nodes import NodeRepository
from ipam_service.schemas import LedgerBatch, LedgerBatchResult, LedgerEventIn
from ipam_service.services.dberrors import constraint_of


class LedgerService:
    def __init__(self, session: AsyncSession, *, max_events: int) -> None:
        self.session = session
        self.repo = LedgerRepository(session)
        self.nodes = NodeRepository(session)
        self.max_events = max_events

    async def apply(self, batch: LedgerBatch) -> LedgerBatchResult:
        if len(batch.events) > self.max_events:
            raise PayloadTooLarge(
                f"{len(batch.events)} events in one batch; at most {self.max_events} allowed",
                field="events",
            )
        # The node row first (lock order, see NodeRepository.get_locked): the leases'
        # foreign keys lock pool and block rows later in this transaction.
        node = await self.nodes.get_locked(batch.node, write=True)
        if node is None:
            raise NodeNotFound(f"node {batch.node!r} is not registered", field="node")
        seen = await self.repo.seen([e.event_id for e in batch.events])
        applied = duplicates = 0
        for index, event in enumerate(batch.events):
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
            replay = 0
            if event.kind == "allocate":
                replay = await self._allocate(node, event, index)
            else:
                await self._release(node, event)
            duplicates += replay
            applied += 1 - replay
        await self.nodes.touch(node)
        return LedgerBatchResult(applied=applied, duplicates=duplicates)

    async def _allocate(self, node: Node, event: LedgerEventIn, index: int) -> int:
        """Open a lease; return 1 when the same owner already holds it (a replay)."""
        where = f"events[{index}].ip"
        block = await self.repo.holding_block(node_id=node.id, ip=event.ip, at=event.at)
        if block is None:
            raise InvalidInput(
                f"{event.ip} is not inside a block held by node {node.name!r}", field=where
            )
        same = await self.repo.open_lease(
            node_id=node.id, ip=event.ip, container_id=event.container_id, ifname=event.ifname
        )
        lease_id = same.id if same is not None else None
        if same is None:
            lease = Lease(
                ip=event.ip,
                pool_id=block.pool_id,
                block_id=block.id,
                node_id=node.id,
                network=event.network,
                container_id=event.container_id,
                ifname=event.ifname,
                pod_namespace=event.pod_namespace,
                pod_name=event.pod_name,
                pod_uid=event.pod_uid,
                during=Range(event.at, None, bounds="[)"),
                open_event_id=event.event_id,
            )
            try:
                await self.repo.add_lease(lease)
            except IntegrityError as exc:
                raise OwnershipConflict(
                    f"{event.ip} already has a live owner at {event.at.isoformat()}"
                    f" ({constraint_of(exc)})",
                    field=where,
                ) from exc
            lease_id = lease.id
        self._record(node, event, lease_id)
        return 0 if same is None else 1

    async def _release(self, node: Node, event: LedgerEventIn) -> None:
        lease = await self.repo.open_lease(
            node_id=node.id, ip=event.ip, container_id=event.container_id, ifname=event.ifname
        )
        if lease is not None:
            await self.repo.close(
                lease, at=event.at, event_id=event.event_id, reason=event.reason or "released"
            )
        self._record(node, event, None if lease is None else lease.id)

    def _record(self, node: Node, event: LedgerEventIn, lease_id: int | None) -> None:
        self.repo.record(
            LedgerEvent(
                event_id=event.event_id,
                node_id=node.id,
                kind=event.kind,
                lease_id=lease_id,
                occurred_at=event.at,
            )
        )
