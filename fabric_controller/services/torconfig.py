"""Generate one ToR's config from the topology, IPAM's current blocks, the policy and, when
the controller runs one, its route collector (the ToR's sessions to it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from ipaddress import IPv4Address

from fabric_controller import torconfig
from fabric_controller.config import ControllerSettings
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.errors import Conflict, InvalidInput, TorNotFound
from fabric_controller.models import Tor
from fabric_controller.secrets import md5_for_config, md5_path
from fabric_controller.services.placement import Placement, RackView
from fabric_controller.torconfig import NodeSide, Policy, TorConfigSpec, TorSide
from fabric_controller.torconfig.collector import collector_peer, collector_side


@dataclass(frozen=True)
class TorConfig:
    text: str
    etag: str
    tor: str


def choose_tor(view: RackView, name: str | None) -> Tor:
    if name is not None:
        for tor in view.tors:
            if tor.name == name:
                return tor
        raise TorNotFound(f"rack {view.rack.name!r} has no ToR {name!r}", field="tor")
    if not view.tors:
        raise Conflict(f"rack {view.rack.name!r} has no ToRs yet", field="tor")
    if len(view.tors) > 1:
        names = ", ".join(t.name for t in view.tors)
        raise InvalidInput(
            f"rack {view.rack.name!r} has several ToRs ({names}); choose one with ?tor=",
            field="tor",
        )
    return view.tors[0]


def tor_side(tor: Tor) -> TorSide:
    router_id = tor.bgp_router_id()
    assert isinstance(router_id, IPv4Address)  # checked when the ToR was added
    return TorSide(tor.name, tor.asn, router_id, tor.address_v4, tor.address_v6)


def with_collector(
    spec: TorConfigSpec, settings: CollectorSettings, *, reveal: bool
) -> TorConfigSpec:
    """``spec`` with the ToR's sessions to the controller's route collector, when the
    controller runs one that expects this ToR (else a header note saying why not)."""
    if not settings.enabled:
        return spec
    peer, why = collector_peer(settings, spec.tor)
    if peer is None:
        return replace(spec, notes=(*spec.notes, why))
    password = md5_for_config(peer.md5_password_file, reveal=reveal)
    side = collector_side(settings, peer=peer, families=spec.families(), md5_password=password)
    if side is None:
        why = f"no route collector session: no family of ToR {spec.tor.name} to carry"
        return replace(spec, notes=(*spec.notes, why))
    return replace(spec, collector=side)


class TorConfigService:
    def __init__(self, placement: Placement, settings: ControllerSettings) -> None:
        self.placement = placement
        self.settings = settings

    def policy(self, view: RackView, *, reveal: bool) -> Policy:
        fabric = view.fabric
        path = md5_path(fabric, secrets_dir=self.settings.secrets_dir)
        return Policy(
            hold_time=fabric.hold_time,
            keepalive_time=fabric.keepalive_time,
            graceful_restart_time=fabric.graceful_restart_time,
            max_prefixes=fabric.max_prefixes,
            max_prefix_restart_minutes=self.settings.bgp.max_prefix_restart_minutes,
            md5_password=md5_for_config(path, reveal=reveal),
        )

    async def spec(self, rack: str, *, tor: str | None, reveal: bool) -> TorConfigSpec:
        # IPAM's listing (HTTP) runs while the rack, fabric and ToR are read (database):
        # the config costs the longer of the two, not their sum.
        listing = asyncio.create_task(self.placement.listed(rack), name=f"ipam-nodes-{rack}")
        try:
            view = await self.placement.rack_view(rack)
            chosen = choose_tor(view, tor)
            policy = self.policy(view, reveal=reveal)
        except BaseException:
            # Let the listing finish rather than cancel it half-way through IPAM's request.
            await asyncio.gather(listing, return_exceptions=True)
            raise
        nodes = tuple(
            NodeSide(node.name, node.node_ip, asn, tuple(b.cidr for b in node.blocks))
            for node, asn in await self.placement.with_asns(view, await listing)
        )
        spec = TorConfigSpec(
            rack=view.rack.name,
            fabric=view.fabric.name,
            peering=view.rack.peering,
            asn_model=view.fabric.asn_model,
            tor=tor_side(chosen),
            policy=policy,
            subnets=tuple(view.subnets),
            rack_asn=view.rack.asn,
            nodes=nodes,
        )
        return with_collector(spec, self.settings.collector, reveal=reveal)

    async def generate(self, rack: str, *, tor: str | None, fmt: str, reveal: bool) -> TorConfig:
        spec = await self.spec(rack, tor=tor, reveal=reveal)
        text = torconfig.render(spec, fmt=fmt)
        return TorConfig(text=text, etag=torconfig.etag(text), tor=spec.tor.name)
