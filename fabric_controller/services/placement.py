"""Where nodes sit: a rack with its fabric, ToRs and subnets, and the rack's nodes from IPAM.

Nodes live in IPAM; the controller finds a node's rack through the node's rack label
(``topology.flatnet.io/rack`` unless configured otherwise) and gives each node its
ASN: the rack's in the per-rack model, an allocated one in the per-node model.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller.config import ControllerSettings
from fabric_controller.errors import Conflict, NodeNotFound, RackNotFound
from fabric_controller.ipamclient import IpamClient
from fabric_controller.models import Fabric, Rack, Tor
from fabric_controller.repositories.racks import RackRepository
from fabric_controller.services.asns import AsnService
from ipam_service.schemas import NodeRead

Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class RackView:
    rack: Rack
    fabric: Fabric
    tors: list[Tor]
    subnets: list[Network]
    pool_subnets: list[Network]


class Placement:
    def __init__(
        self, session: AsyncSession, *, settings: ControllerSettings, ipam: IpamClient
    ) -> None:
        self.racks = RackRepository(session)
        self.allocator = AsnService(session)
        self.ipam = ipam
        self.label = settings.kube.rack_label

    async def rack_view(self, name: str) -> RackView:
        found = await self.racks.with_fabric(name)
        if found is None:
            raise RackNotFound(f"rack {name!r} does not exist", field="rack")
        rack, fabric = found
        subnets = (await self.racks.subnets([rack.id]))[rack.id]
        tors = (await self.racks.tors([rack.id]))[rack.id]
        return RackView(rack, fabric, tors, subnets["node"], subnets["pool"])

    async def node(self, name: str) -> tuple[NodeRead, RackView]:
        """The node as IPAM knows it, and its rack (from its rack label)."""
        node = await self.ipam.get_node(name)
        if node is None:
            raise NodeNotFound(f"IPAM has no live node {name!r}", field="name")
        rack = node.labels.get(self.label)
        if rack is None:
            raise RackNotFound(
                f"node {name!r} has no {self.label} label, so it is in no rack", field=self.label
            )
        try:
            return node, await self.rack_view(rack)
        except RackNotFound:
            raise RackNotFound(
                f"node {name!r} is labelled {self.label}={rack}, but no such rack exists",
                field=self.label,
            ) from None

    async def asns_of(self, view: RackView, nodes: list[str]) -> dict[str, int]:
        """Each node's ASN in the rack's fabric (allocating per-node ASNs on first use)."""
        if view.fabric.asn_model == "per-node":
            return await self.allocator.ensure(view.fabric, nodes)
        if view.rack.asn is None:
            raise Conflict(
                f"rack {view.rack.name!r} has no ASN yet (fabric {view.fabric.name!r} uses one"
                " per rack); set it with PATCH /v1/racks/{rack}",
                field="asn",
            )
        return dict.fromkeys(nodes, view.rack.asn)

    async def listed(self, rack: str) -> list[NodeRead]:
        """The nodes IPAM labels into ``rack``, in name order (no database work)."""
        nodes = await self.ipam.list_nodes(label=(self.label, rack))
        return sorted(nodes, key=lambda n: n.name)

    async def with_asns(self, view: RackView, nodes: list[NodeRead]) -> list[tuple[NodeRead, int]]:
        asns = await self.asns_of(view, [n.name for n in nodes])
        return [(n, asns[n.name]) for n in nodes]

    async def rack_nodes(self, view: RackView) -> list[tuple[NodeRead, int]]:
        """The rack's live nodes in name order, each with its ASN."""
        return await self.with_asns(view, await self.listed(view.rack.name))
