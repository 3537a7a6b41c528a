"""The topology as the Kubernetes lifecycle loop changes it (its ``RackRegistry`` and
``AsnRegistry``): racks seen in node labels, and per-node ASNs of nodes that left.

A rack label naming an unknown rack creates the rack bare, in the default fabric
(created too, per-node ASN model, when missing): no subnets, no ToRs, no ASN. The
network team completes it through the API; until then its ToR config has no ToR and
a node in it gets no peering. An existing rack is never changed.

A node released for good frees its per-node ASN (the same as ``DELETE
/v1/nodes/{name}/asn``), so the range does not run dry as nodes come and go.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.config import ControllerSettings
from fabric_controller.errors import FabricNotFound
from fabric_controller.models import Rack
from fabric_controller.repositories.racks import RackRepository
from fabric_controller.schemas import FabricCreate
from fabric_controller.services.asns import AsnService
from fabric_controller.services.fabrics import FabricService

log = logging.getLogger("flatnet.controller.topology")


class TopologyRegistry:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: ControllerSettings
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def ensure_rack(self, name: str) -> None:
        """Idempotent; a concurrent creator winning the race is fine."""
        try:
            await self._ensure(name)
        except IntegrityError:
            await self._ensure(name)  # another replica won the race; now its rows are seen

    async def _ensure(self, name: str) -> None:
        async with self.sessionmaker() as session:
            racks = RackRepository(session)
            if await racks.get(name) is not None:
                return
            fabrics = FabricService(session, self.settings)
            fabric_name = self.settings.default_fabric
            try:
                fabric = await fabrics.row(fabric_name, lock=True)
            except FabricNotFound:
                await fabrics.create(FabricCreate(name=fabric_name, asn_model="per-node"))
                fabric = await fabrics.row(fabric_name, lock=True)
            await racks.add(Rack(name=name, fabric_id=fabric.id, peering="static"))
            await session.commit()
        log.info("rack created from a node label", extra={"rack": name, "fabric": fabric_name})

    async def release_asn(self, name: str) -> bool:
        """Idempotent: False when the node holds no ASN (freed already, or per-rack)."""
        async with self.sessionmaker() as session:
            released = await AsnService(session).release(name)
            await session.commit()
        if released:
            log.info("per-node ASN freed", extra={"node": name})
        return released
