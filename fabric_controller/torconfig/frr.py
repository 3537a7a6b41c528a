"""Render a ToR config for FRR 8.4 (bgpd + zebra). Pure: spec in, text out.

Shape (fabric-lab section 10.3): per-node prefix lists of the node's blocks at their
exact length (no ``ge``/``le``), a per-node inbound route-map that also requires the
node itself as next hop (``match ip[v6] next-hop address``), deny-all outbound, and
``maximum-prefix N restart M`` on the routes accepted. (FRR 8.4's ``force``, which
would count filtered routes too, needs ``soft-reconfiguration inbound`` and then counted
every route again each time the route-maps were re-applied: sessions within the limit
were reset in the lab. Denied routes are not stored without soft reconfiguration.)
``static`` peering gives one passive neighbour per node; ``dynamic`` a peer-group per
family with ``bgp listen range`` per rack subnet and one route-map entry per node,
keyed on ``match peer`` (plus the node's AS path in the per-node ASN model). Observed
in the lab: FRR deletes a dynamic neighbour when max-prefix resets it, restart timer and
all, so with dynamic peering the node may reconnect at once; static peering holds it off
for ``restart M`` minutes. The route collector, when there is one, is an ordinary
neighbour: deny-all inbound, everything outbound with every path (``addpath-tx-all-paths``)
and the nodes' next hops untouched (``attribute-unchanged next-hop``, which a multihop
collector needs; on a shared subnet FRR keeps third-party next hops anyway).
"""

from __future__ import annotations

from fabric_controller.torconfig.spec import (
    CollectorSide,
    Family,
    NodeSide,
    TorConfigSpec,
    header,
    ident,
)

DENY_ALL = "FLATNET-DENY-ALL"
COLLECTOR_OUT = "FLATNET-COLLECTOR-OUT"
BGP_PORT = 179
IP = {4: "ip", 6: "ipv6"}


def _plist(node: NodeSide, family: Family) -> str:
    return f"FLATNET-{ident(node.name)}-V{family}"


def _prefix_lists(spec: TorConfigSpec) -> list[str]:
    out = ["!"]
    for family in spec.families():
        for node in spec.peers(family):
            name = _plist(node, family)
            blocks = node.blocks_of(family)
            if not blocks:
                out.append(f"{IP[family]} prefix-list {name} seq 10 deny any")
            for seq, block in enumerate(blocks, start=1):
                out.append(f"{IP[family]} prefix-list {name} seq {seq * 10} permit {block}")
            if spec.peering == "dynamic" and spec.asn_model == "per-node":
                out.append(
                    f"bgp as-path access-list FLATNET-{ident(node.name)}-AS"
                    f" seq 10 permit ^{node.asn}$"
                )
    return out


def _match(spec: TorConfigSpec, node: NodeSide, family: Family) -> list[str]:
    lines = [
        f" match {IP[family]} address prefix-list {_plist(node, family)}",
        f" match {IP[family]} next-hop address {node.address}",
    ]
    if spec.peering == "dynamic":
        lines.insert(0, f" match peer {node.address}")
        if spec.asn_model == "per-node":
            lines.append(f" match as-path FLATNET-{ident(node.name)}-AS")
    return lines


def _route_maps(spec: TorConfigSpec) -> list[str]:
    out = ["!"]
    for family in spec.families():
        for position, node in enumerate(spec.peers(family), start=1):
            if spec.peering == "static":  # a route-map of its own per node
                name, seq = f"FLATNET-{ident(node.name)}-IN", 10
            else:  # one route-map for the peer-group, an entry per node
                name, seq = f"FLATNET-NODES-V{family}-IN", position * 10
            out += [f"route-map {name} permit {seq}", *_match(spec, node, family), "exit"]
    out += [f"route-map {DENY_ALL} deny 10", "exit"]
    if spec.collector is not None:
        out += [f"route-map {COLLECTOR_OUT} permit 10", "exit"]
    return out


def _session(spec: TorConfigSpec, peer: str, *, remote: str, note: str) -> list[str]:
    p = spec.policy
    out = [
        f" neighbor {peer} remote-as {remote}",
        f" neighbor {peer} description {note}",
        f" neighbor {peer} timers {p.keepalive_time} {p.hold_time}",
    ]
    if p.md5_password is not None:
        out.append(f" neighbor {peer} password {p.md5_password}")
    return out


def _family_block(family: Family, peers: list[tuple[str, str]], limit: str) -> list[str]:
    out = [" !", f" address-family ipv{family} unicast"]
    for peer, route_map in peers:
        out += [
            f"  neighbor {peer} activate",
            f"  neighbor {peer} route-map {route_map} in",
            f"  neighbor {peer} route-map {DENY_ALL} out",
            f"  neighbor {peer} maximum-prefix {limit}",
        ]
    return [*out, " exit-address-family"]


def _neighbors(spec: TorConfigSpec, family: Family) -> tuple[list[str], list[tuple[str, str]]]:
    """The family's neighbour lines, and (neighbour or peer-group, inbound route-map) pairs."""
    out: list[str] = []
    if spec.peering == "static":
        peers = []
        for node in spec.peers(family):
            addr = str(node.address)
            out += _session(spec, addr, remote=str(node.asn), note=f"node {node.name}")
            out.append(f" neighbor {addr} passive")
            peers.append((addr, f"FLATNET-{ident(node.name)}-IN"))
        return out, peers
    if not spec.ranges(family):
        return out, []
    group = f"FLATNET-NODES-V{family}"
    remote = "external" if spec.rack_asn is None else str(spec.rack_asn)
    out.append(f" neighbor {group} peer-group")
    out += _session(spec, group, remote=remote, note=f"rack {spec.rack} nodes")
    out += [f" bgp listen range {s} peer-group {group}" for s in spec.ranges(family)]
    return out, [(group, f"FLATNET-NODES-V{family}-IN")]


def _collector_neighbors(side: CollectorSide) -> list[str]:
    out: list[str] = []
    keepalive = max(side.hold_time // 3, 1)
    for session in side.sessions:
        peer = str(session.address)
        out += [
            f" neighbor {peer} remote-as {side.asn}",
            f" neighbor {peer} description flatnet route collector",
            f" neighbor {peer} update-source {session.local}",
            f" neighbor {peer} timers {keepalive} {side.hold_time}",
            f" neighbor {peer} timers connect {side.connect_retry}",
        ]
        if side.port != BGP_PORT:
            out.append(f" neighbor {peer} port {side.port}")
        if side.multihop:
            out.append(f" neighbor {peer} ebgp-multihop {side.multihop}")
        if side.md5_password is not None:
            out.append(f" neighbor {peer} password {side.md5_password}")
    return out


def _collector_family(side: CollectorSide, family: Family) -> list[str]:
    out = []
    for session in side.sessions:
        if family not in session.families:
            continue
        peer = str(session.address)
        out += [
            f"  neighbor {peer} activate",
            f"  neighbor {peer} route-map {DENY_ALL} in",
            f"  neighbor {peer} route-map {COLLECTOR_OUT} out",
            f"  neighbor {peer} addpath-tx-all-paths",
            f"  neighbor {peer} attribute-unchanged next-hop",
        ]
    return out


def _router(spec: TorConfigSpec) -> list[str]:
    p = spec.policy
    out = [
        "!",
        f"router bgp {spec.tor.asn}",
        f" bgp router-id {spec.tor.router_id}",
        " no bgp default ipv4-unicast",
        " bgp graceful-restart",
        f" bgp graceful-restart restart-time {max(p.graceful_restart_time, 1)}",
    ]
    if spec.peering == "dynamic":
        out.append(f" bgp listen limit {max(100, len(spec.nodes))}")
    limit = f"{p.max_prefixes} restart {p.max_prefix_restart_minutes}"
    for family in spec.families():
        lines, peers = _neighbors(spec, family)
        out += lines
        if peers:
            out += _family_block(family, peers, limit)
    if spec.collector is not None:
        out += [" ! route collector (fabric controller): receive-only, every path"]
        out += _collector_neighbors(spec.collector)
        for family in spec.families():
            lines = _collector_family(spec.collector, family)
            if lines:
                out += [
                    " !",
                    f" address-family ipv{family} unicast",
                    *lines,
                    " exit-address-family",
                ]
    return [*out, "exit", "!"]


def render(spec: TorConfigSpec) -> str:
    out = ["frr defaults datacenter", f"hostname {spec.tor.name}"]
    out += header(spec, daemon="FRR 8.4", comment="!")
    out += _prefix_lists(spec) + _route_maps(spec) + _router(spec)
    return "\n".join(out) + "\n"
