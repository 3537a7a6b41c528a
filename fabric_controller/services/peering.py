"""A node's BGP peering: one session per ToR of its rack, in the family of its address."""

from __future__ import annotations

from pathlib import Path

from fabric_controller.config import ControllerSettings
from fabric_controller.schemas import NodeBgpRead, PeerRead
from fabric_controller.secrets import md5_path
from fabric_controller.services.placement import Placement, RackView
from ipam_service.schemas import NodeRead

FAMILIES = {4: "ipv4 unicast", 6: "ipv6 unicast"}


def peers_of(
    node: NodeRead, local_as: int, view: RackView, md5: Path | None
) -> list[tuple[str, PeerRead]]:
    """(ToR name, session) for each ToR with an address in the family of the node's."""
    family = node.node_ip.version
    fabric = view.fabric
    peers = []
    for tor in view.tors:
        address = tor.address_v4 if family == 4 else tor.address_v6
        if address is None:
            continue
        peer = PeerRead(
            address=address,
            peer_as=tor.asn,
            local_as=local_as,
            local_address=node.node_ip,
            router_id=node.node_ip if node.node_ip.version == 4 else None,
            hold_time=fabric.hold_time,
            graceful_restart=fabric.graceful_restart_time,
            md5_password_file=md5,
            families=[FAMILIES[family]],
        )
        peers.append((tor.name, peer))
    return peers


class PeeringService:
    def __init__(self, placement: Placement, settings: ControllerSettings) -> None:
        self.placement = placement
        self.settings = settings

    async def node_bgp(self, name: str) -> NodeBgpRead:
        node, view = await self.placement.node(name)
        local_as = (await self.placement.asns_of(view, [name]))[name]
        # Where the node finds the secret: a secret name resolves in the node's secrets dir.
        md5 = md5_path(view.fabric, secrets_dir=self.settings.node_secrets_dir)
        peers = peers_of(node, local_as, view, md5)
        return NodeBgpRead(
            node=name,
            rack=view.rack.name,
            fabric=view.fabric.name,
            asn_model=view.fabric.asn_model,
            local_as=local_as,
            keepalive_time=view.fabric.keepalive_time,
            peers=[peer for _, peer in peers],
            tors=[tor for tor, _ in peers],
        )
