"""The lab's network namespaces: ToRs with a bridge, nodes wired to them by veth pairs.

::

                 netns <prefix>-tor1                    (a second ToR: same shape,
        +-----------------------------------+            next uplink subnet, eth1)
        | br0  10.10.0.1/24  fd00:10::1/64  |
        |   node1          node2            |   <- veth ends, enslaved to br0
        +----|---------------|--------------+
             |               |
        +----|-----+    +----|-----+
        | eth0 .11 |    | eth0 .12 |
        | <p>-node1|    | <p>-node2|
        +----------+    +----------+

:func:`plan` is pure: names and addresses from :class:`LabSettings`. :func:`create`
builds the plan with ``ip`` (every veth is created straight inside its namespaces, so
no name ever appears in the host namespace) and undoes everything when a step fails.
:func:`destroy` deletes exactly the namespaces the plan names, which takes their
links with them. A :class:`Topology` round-trips through JSON for the lab's state file.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any

from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import ip, run

BRIDGE = "br0"


@dataclass(frozen=True)
class TorPlan:
    index: int
    netns: str
    ipv4: IPv4Interface
    ipv6: IPv6Interface
    asn: int
    bridge: str = BRIDGE


@dataclass(frozen=True)
class NodeLink:
    """One uplink of a node: ``ifname`` in the node, ``tor_ifname`` on the ToR's bridge."""

    tor: int
    ifname: str
    tor_ifname: str
    ipv4: IPv4Interface
    ipv6: IPv6Interface


@dataclass(frozen=True)
class NodePlan:
    index: int
    name: str
    netns: str
    asn: int
    links: tuple[NodeLink, ...]


@dataclass(frozen=True)
class Topology:
    prefix: str
    tors: tuple[TorPlan, ...]
    nodes: tuple[NodePlan, ...]

    def tor(self, index: int) -> TorPlan:
        return next(t for t in self.tors if t.index == index)

    def node(self, name: str) -> NodePlan:
        return next(n for n in self.nodes if n.name == name)

    def namespaces(self) -> list[str]:
        return [n.netns for n in self.nodes] + [t.netns for t in self.tors]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Topology:
        tors = tuple(
            TorPlan(
                index=t["index"],
                netns=t["netns"],
                ipv4=IPv4Interface(t["ipv4"]),
                ipv6=IPv6Interface(t["ipv6"]),
                asn=t["asn"],
                bridge=t["bridge"],
            )
            for t in data["tors"]
        )
        nodes = tuple(
            NodePlan(
                index=n["index"],
                name=n["name"],
                netns=n["netns"],
                asn=n["asn"],
                links=tuple(
                    NodeLink(
                        tor=link["tor"],
                        ifname=link["ifname"],
                        tor_ifname=link["tor_ifname"],
                        ipv4=IPv4Interface(link["ipv4"]),
                        ipv6=IPv6Interface(link["ipv6"]),
                    )
                    for link in n["links"]
                ),
            )
            for n in data["nodes"]
        )
        return cls(prefix=data["prefix"], tors=tors, nodes=nodes)


def new_prefix(settings: LabSettings) -> str:
    """A fresh name prefix: the settings' start plus 6 random hex digits."""
    return f"{settings.name_prefix}{secrets.token_hex(3)}"


def plan(settings: LabSettings, *, prefix: str, nodes: int, tors: int = 1) -> Topology:
    """Names and addresses of a lab with ``nodes`` nodes, each wired to all ``tors`` ToRs."""
    if not 1 <= tors <= len(settings.uplinks):
        raise ValueError(f"tors must be 1..{len(settings.uplinks)}")
    if nodes < 1:
        raise ValueError("nodes must be at least 1")
    tor_plans = []
    for k, uplink in enumerate(settings.uplinks[:tors], start=1):
        tor_plans.append(
            TorPlan(
                index=k,
                netns=f"{prefix}-tor{k}",
                ipv4=IPv4Interface((uplink.ipv4[settings.tor_host], uplink.ipv4.prefixlen)),
                ipv6=IPv6Interface(
                    (uplink.ipv6[_hexlike(settings.tor_host)], uplink.ipv6.prefixlen)
                ),
                asn=settings.tor_as,
            )
        )
    node_plans = []
    for n in range(1, nodes + 1):
        host = settings.node_host_base + n
        links = []
        for k, uplink in enumerate(settings.uplinks[:tors], start=1):
            if host >= uplink.ipv4.num_addresses - 1 or host == settings.tor_host:
                raise ValueError(f"node {n} does not fit {uplink.ipv4}")
            links.append(
                NodeLink(
                    tor=k,
                    ifname=f"eth{k - 1}",
                    tor_ifname=f"node{n}",
                    ipv4=IPv4Interface((uplink.ipv4[host], uplink.ipv4.prefixlen)),
                    ipv6=IPv6Interface((uplink.ipv6[_hexlike(host)], uplink.ipv6.prefixlen)),
                )
            )
        node_plans.append(
            NodePlan(
                index=n,
                name=f"node{n}",
                netns=f"{prefix}-node{n}",
                asn=settings.node_as_base + n,
                links=tuple(links),
            )
        )
    return Topology(prefix=prefix, tors=tuple(tor_plans), nodes=tuple(node_plans))


def _hexlike(host: int) -> int:
    """Host 11 is ``::11`` in IPv6, as it is ``.11`` in IPv4: the same digits, read as hex."""
    return int(str(host), 16)


def existing(topology: Topology, *, timeout: float) -> set[str]:
    """The plan's namespace names that exist already (another lab's, if any)."""
    present = {
        line.split()[0] for line in ip("netns", "list", timeout=timeout).splitlines() if line
    }
    return present & set(topology.namespaces())


def create(topology: Topology, *, timeout: float) -> None:
    """Build every namespace, bridge, veth and address; on failure remove what was made.

    A name that exists already fails the creation, and only the namespaces this call
    created are removed: never another lab's.
    """
    made: list[str] = []
    try:
        for tor in topology.tors:
            _create_tor(tor, made, timeout=timeout)
        for node in topology.nodes:
            _create_node(topology, node, made, timeout=timeout)
    except BaseException:
        for name in reversed(made):
            ip("netns", "del", name, timeout=timeout, check=False)
        raise


def destroy(topology: Topology, *, timeout: float) -> None:
    """Delete the plan's namespaces (and so their links); idempotent."""
    for name in sorted(existing(topology, timeout=timeout)):
        ip("netns", "del", name, timeout=timeout, check=False)


def _create_tor(tor: TorPlan, made: list[str], *, timeout: float) -> None:
    ns = tor.netns
    ip("netns", "add", ns, timeout=timeout)
    made.append(ns)
    ip("-n", ns, "link", "set", "lo", "up", timeout=timeout)
    # The nodes share one L2 segment behind the bridge. A Linux router forwarding a packet
    # back out of the interface it came in on sends an ICMP redirect, and the node would
    # then send straight to the other node, past the ToR's routing table. Pod traffic must
    # follow the routes the ToR learnt by BGP, so the ToR sends no redirects (IPv4; for
    # IPv6 the nodes ignore them, see _create_node).
    _sysctl(ns, ["net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0"],
            timeout=timeout)  # fmt: skip
    ip("-n", ns, "link", "add", tor.bridge, "type", "bridge", timeout=timeout)
    ip("-n", ns, "addr", "add", str(tor.ipv4), "dev", tor.bridge, timeout=timeout)
    # nodad: the address is usable at once, not after duplicate address detection.
    ip("-n", ns, "addr", "add", str(tor.ipv6), "dev", tor.bridge, "nodad", timeout=timeout)
    ip("-n", ns, "link", "set", tor.bridge, "up", timeout=timeout)
    _sysctl(ns, ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], timeout=timeout)


def _sysctl(ns: str, values: list[str], *, timeout: float) -> None:
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", *values], timeout=timeout)


def _create_node(topology: Topology, node: NodePlan, made: list[str], *, timeout: float) -> None:
    ns = node.netns
    ip("netns", "add", ns, timeout=timeout)
    made.append(ns)
    ip("-n", ns, "link", "set", "lo", "up", timeout=timeout)
    # Set before the uplinks exist, so that they inherit it ("default"): see _create_tor.
    ignore = [
        f"net.{family}.conf.{scope}.accept_redirects=0"
        for family in ("ipv4", "ipv6")
        for scope in ("all", "default")
    ]
    _sysctl(ns, ignore, timeout=timeout)
    for link in node.links:
        tor = topology.tor(link.tor)
        # Both ends are born in their namespaces: no name ever exists in the host netns.
        ip(
            *("-n", tor.netns, "link", "add", link.tor_ifname, "type", "veth"),
            *("peer", "name", link.ifname, "netns", ns),
            timeout=timeout,
        )
        ip("-n", tor.netns, "link", "set", link.tor_ifname, "master", tor.bridge, timeout=timeout)
        ip("-n", tor.netns, "link", "set", link.tor_ifname, "up", timeout=timeout)
        ip("-n", ns, "addr", "add", str(link.ipv4), "dev", link.ifname, timeout=timeout)
        ip("-n", ns, "addr", "add", str(link.ipv6), "dev", link.ifname, "nodad", timeout=timeout)
        ip("-n", ns, "link", "set", link.ifname, "up", timeout=timeout)
    _default_routes(topology, node, timeout=timeout)


def _default_routes(topology: Topology, node: NodePlan, *, timeout: float) -> None:
    """Default routes towards the ToRs: ECMP over both uplinks of a dual-homed node."""
    for family, attr in (("-4", "ipv4"), ("-6", "ipv6")):
        hops: list[str] = []
        for link in node.links:
            gateway = getattr(topology.tor(link.tor), attr).ip
            hops += ["nexthop", "via", str(gateway), "dev", link.ifname]
        if len(node.links) == 1:
            hops = hops[1:]
        ip("-n", node.netns, family, "route", "add", "default", *hops, timeout=timeout)
