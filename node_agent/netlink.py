"""The node agent's netlink adapter: the only module in flatnet that imports pyroute2.

It wires pods (veth pair, /32 and /128 addresses, link-local gateways, host
routes), tears them down, keeps blackhole routes for the node's blocks, and
reports what it finds for reconcile and CNI CHECK. Decisions that need no kernel
live in :mod:`node_agent.podnet`.

Contracts:

* Every kernel call runs under :func:`_kernel`, which translates errno into the
  tree of :mod:`node_agent.errors` through one table (``podnet.KERNEL_ERRORS``).
* ``unwire_pod``, ``ensure_*`` and ``remove_*`` are idempotent. ``wire_pod`` is
  safe to retry: it deletes a stale host veth of the same name, and it rolls back
  what it created when a step fails.
* Every route the adapter creates carries ``route_protocol``, which is how it
  lists exactly its own routes.
* No global state and no global lock. Calls may come from many threads; calls
  for the same host veth are serialised by a per-name lock.

Netns handling (no forking ``IPRoute(netns=...)``) is explained in :mod:`node_agent.netns`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from ipaddress import ip_address, ip_network
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError as _Pyroute2Error

from node_agent.errors import (
    LinkConflict,
    LinkNotFound,
    PodCheckError,
    RouteNotFound,
)
from node_agent.netns import open_netns, pod_netns_fd, route_socket, write_sysctls
from node_agent.podnet import (
    DEFAULT_HOST_PREFIX,
    Gateways,
    IPAddress,
    IPNetwork,
    PodExpected,
    PodLink,
    PodObserved,
    PodWiring,
    RouteDiff,
    address_family,
    check_findings,
    diff_networks,
    host_network,
    is_host_ifname,
    kernel_error,
    link_kind,
    sorted_addresses,
    sorted_networks,
    validate_ifname,
)
from node_agent.podnet import host_ifname as _host_ifname
from node_agent.steps import KeyedLocks, roll_back

log = logging.getLogger(__name__)

DEFAULT_ROUTE_PROTOCOL = 0xF1
"""rtm_protocol on every route flatnet creates (``ip route ... proto 241``)."""

_IFF_UP = 0x1
_IFA_F_NODAD = 0x02
_NUD_PERMANENT = 0x80
_RT_SCOPE_LINK = 253
_RT_TABLE_MAIN = 254
_RTN_UNICAST = 1
_RTN_BLACKHOLE = 6


@contextmanager
def _kernel(subject: str, what: str) -> Iterator[None]:
    """Run a kernel call; re-raise its failure as a domain error about ``subject``."""
    try:
        yield
    except _Pyroute2Error as exc:
        raise kernel_error(subject, int(exc.code), what) from exc
    except OSError as exc:
        raise kernel_error(subject, exc.errno or errno.EIO, what) from exc


@contextmanager
def _rtnl(fd: int | None, where: str) -> Iterator[Any]:
    """An ``IPRoute`` bound to netns ``fd``; no multicast groups, closed on exit."""
    sock = route_socket(fd, where)
    try:
        ipr = IPRoute(groups=0, use_socket=sock)
    except BaseException:
        sock.close()
        raise
    try:
        yield ipr
    finally:
        ipr.close()


@contextmanager
def _pod_netns(path: str, host_fd: int | None) -> Iterator[tuple[int, Any]]:
    """An fd of the pod netns at ``path`` and an ``IPRoute`` bound to it."""
    with pod_netns_fd(path, host_fd) as fd, _rtnl(fd, path) as ipr:
        yield fd, ipr


class Netlink:
    """Kernel side of the node agent: pod veths, host routes and blackholes.

    ``host_netns`` names the netns that plays the node (tests pass one they
    created); ``None`` means the netns of the calling thread.
    """

    def __init__(
        self,
        *,
        host_netns: str | None = None,
        route_protocol: int = DEFAULT_ROUTE_PROTOCOL,
        gateways: Gateways | None = None,
        host_prefix: str = DEFAULT_HOST_PREFIX,
    ) -> None:
        if not 0 < route_protocol < 256:
            raise ValueError(f"route_protocol must be 1..255, got {route_protocol}")
        self._proto = route_protocol
        self._gateways = gateways or Gateways()
        self._prefix = host_prefix
        self._host_netns = host_netns or "(current)"
        self._host_fd = open_netns(host_netns) if host_netns else None
        self._locks = KeyedLocks()

    def close(self) -> None:
        """Release the host netns handle; idempotent."""
        fd, self._host_fd = self._host_fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host(self) -> Any:
        return _rtnl(self._host_fd, self._host_netns)

    def host_ifname(self, container_id: str, ifname: str) -> str:
        """Deterministic host veth name for the attachment ``(container_id, ifname)``."""
        return _host_ifname(container_id, ifname, prefix=self._prefix)

    def enable_forwarding(self) -> None:
        """Turn on IPv4 and IPv6 forwarding in the node netns (ptp's EnableForward)."""
        values = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
        write_sysctls(self._host_fd, values)

    # -- pods ---------------------------------------------------------------------

    def wire_pod(
        self,
        *,
        netns: str,
        ifname: str,
        host_ifname: str,
        addresses: Iterable[IPAddress],
        mtu: int,
    ) -> PodWiring:
        """Create the veth pair, address the pod end and route it; all or nothing.

        Raises :class:`LinkConflict` when the pod netns already has ``ifname``
        and :class:`NamespaceNotFound` when ``netns`` is not a network namespace.
        """
        validate_ifname(ifname)
        validate_ifname(host_ifname)
        addrs = sorted_addresses(addresses)
        if not addrs:
            raise ValueError("wire_pod needs at least one address")
        undo: list[Callable[[], None]] = []
        with self._locks.hold(host_ifname), self._host() as host:
            try:
                with _pod_netns(netns, self._host_fd) as (pod_fd, pod):
                    job = _Wiring(
                        self, host, pod, pod_fd, netns, ifname, host_ifname, addrs, mtu, undo
                    )
                    return job.run()
            except BaseException:
                roll_back(undo)
                raise

    def unwire_pod(self, host_ifname: str) -> bool:
        """Delete the host veth and its host routes; ``False`` if it was already gone.

        Needs no netns and no prevResult (CNI-131): deleting one end of a veth
        deletes the other, wherever it is, and a deleted netns takes its end with
        it. Every step tolerates "already gone" (CNI-130).
        """
        with self._locks.hold(host_ifname), self._host() as host:
            try:
                index = self._link_index(host, host_ifname)
            except LinkNotFound:
                return False
            for dst in self._routed_to(host).get(index, ()):
                with suppress(RouteNotFound, LinkNotFound):
                    self._route(host, "del", dst=dst, oif=index)
            with suppress(LinkNotFound):
                self._delete_link(host, host_ifname)
        return True

    def ensure_host_route(self, *, host_ifname: str, address: IPAddress) -> None:
        """Install (or repair) ``address/32`` (``/128``) via the host veth; idempotent."""
        with self._host() as host:
            index = self._link_index(host, host_ifname)
            self._route(host, "replace", dst=address, oif=index)

    def list_pod_links(self) -> list[PodLink]:
        """Every host veth carrying the agent's prefix, with the pod addresses routed to it."""
        with self._host() as host:
            with _kernel("link", "dump links"):
                links = [m for m in host.link("dump") if self._is_ours(m)]
            routed = self._routed_to(host)
        return [
            PodLink(
                host_ifname=str(m.get("ifname")),
                ifindex=int(m["index"]),
                mac=str(m.get("address")),
                mtu=int(m.get("mtu")),
                up=bool(m["flags"] & _IFF_UP),
                peer_ifindex=m.get("link"),
                peer_netnsid=m.get("link_netnsid"),
                addresses=sorted_addresses(
                    ip_address(n.network_address) for n in routed.get(int(m["index"]), ())
                ),
            )
            for m in sorted(links, key=lambda m: str(m.get("ifname")))
        ]

    def check_pod(
        self,
        *,
        netns: str,
        ifname: str,
        host_ifname: str,
        addresses: Iterable[IPAddress],
        mac: str | None = None,
    ) -> None:
        """Verify a wired pod for CNI CHECK; raise :class:`PodCheckError` listing every fault."""
        expected = PodExpected(
            ifname=ifname,
            host_ifname=host_ifname,
            addresses=sorted_addresses(addresses),
            gateways=self._gateways,
            mac=mac,
        )
        observed = self._observe(netns=netns, ifname=ifname, host_ifname=host_ifname)
        findings = check_findings(expected, observed)
        if findings:
            raise PodCheckError("; ".join(findings))

    # -- blackholes -----------------------------------------------------------------

    # A node holds whole blocks (say a /26) but only some addresses are in use.
    # Without a blackhole, a packet for an unused address matches the default
    # route and goes back to the fabric, which routes it to this node again: a
    # loop until the TTL runs out. The blackhole is less specific than every pod
    # /32, so used addresses still reach their veth and unused ones are dropped.

    def ensure_blackhole(self, cidr: IPNetwork) -> None:
        """Install ``blackhole <cidr> proto <ours>``; idempotent."""
        with self._host() as host:
            self._route(host, "replace", dst=cidr, type="blackhole")

    def remove_blackhole(self, cidr: IPNetwork) -> None:
        """Delete our blackhole for ``cidr``; succeeds if it is absent."""
        with self._host() as host, suppress(RouteNotFound):
            self._route(host, "del", dst=cidr, type="blackhole")

    def list_blackholes(self) -> list[IPNetwork]:
        """Our blackhole routes, IPv4 first."""
        with self._host() as host:
            nets = [n for n, rtype, _ in self._own_routes(host) if rtype == _RTN_BLACKHOLE]
        return sorted_networks(nets)

    def sync_blackholes(self, desired: Iterable[IPNetwork]) -> RouteDiff:
        """Full sync: add missing and delete extra blackholes; return what changed."""
        diff = diff_networks(desired, self.list_blackholes())
        for cidr in diff.missing:
            self.ensure_blackhole(cidr)
        for cidr in diff.extra:
            self.remove_blackhole(cidr)
        return diff

    # -- kernel helpers -----------------------------------------------------------

    def _is_ours(self, msg: Any) -> bool:
        name = str(msg.get("ifname"))
        return is_host_ifname(name, prefix=self._prefix) and link_kind(msg) == "veth"

    def _route(self, ipr: Any, cmd: str, *, dst: IPAddress | IPNetwork, **spec: Any) -> None:
        net = dst if not isinstance(dst, IPAddress) else host_network(dst)
        if net.version == 4 and spec.get("oif") and not spec.get("gateway"):
            spec["scope"] = _RT_SCOPE_LINK
        with _kernel("route", f"route {cmd} {net}"):
            ipr.route(cmd, dst=str(net), family=address_family(net), proto=self._proto, **spec)

    def _own_routes(self, ipr: Any) -> list[tuple[IPNetwork, int, int | None]]:
        """(prefix, rtm_type, oif) of every route with our protocol in the main table."""
        found: list[tuple[IPNetwork, int, int | None]] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            with _kernel("route", "dump routes"):
                msgs = list(ipr.route("dump", family=family, proto=self._proto))
            for m in msgs:
                if m["proto"] != self._proto or m.get("table") != _RT_TABLE_MAIN:
                    continue
                default = "0.0.0.0" if family == socket.AF_INET else "::"
                net = ip_network(f"{m.get('dst') or default}/{m['dst_len']}")
                found.append((net, int(m["type"]), m.get("oif")))
        return found

    def _routed_to(self, ipr: Any) -> dict[int, list[IPNetwork]]:
        """Our unicast routes grouped by outgoing ifindex."""
        by_oif: dict[int, list[IPNetwork]] = {}
        for net, rtype, oif in self._own_routes(ipr):
            if rtype == _RTN_UNICAST and oif is not None:
                by_oif.setdefault(int(oif), []).append(net)
        return by_oif

    @staticmethod
    def _link_get(ipr: Any, ifname: str) -> Any:
        with _kernel("link", f"get link {ifname}"):
            return ipr.link("get", ifname=ifname)[0]

    @staticmethod
    def _link_index(ipr: Any, ifname: str) -> int:
        return int(Netlink._link_get(ipr, ifname)["index"])

    @staticmethod
    def _delete_link(ipr: Any, ifname: str) -> None:
        with _kernel("link", f"delete link {ifname}"):
            ipr.link("del", ifname=ifname)

    def _observe(self, *, netns: str, ifname: str, host_ifname: str) -> PodObserved:
        with self._host() as host:
            hlink = None
            with suppress(LinkNotFound):
                hlink = self._link_get(host, host_ifname)
            routed = self._routed_to(host).get(int(hlink["index"]), []) if hlink else []
        with _pod_netns(netns, self._host_fd) as (_, pod):
            seen = _observe_pod(pod, ifname)
        return replace(
            seen,
            host_up=None if hlink is None else bool(hlink["flags"] & _IFF_UP),
            host_routes=frozenset(ip_address(n.network_address) for n in routed),
        )


def _observe_pod(pod: Any, ifname: str) -> PodObserved:
    try:
        with _kernel("link", f"get link {ifname}"):
            link = pod.link("get", ifname=ifname)[0]
    except LinkNotFound:
        return PodObserved(kind=None)
    index = int(link["index"])
    with _kernel("addr", f"dump addresses of {ifname}"):
        addrs = frozenset(
            (ip_address(str(a.get("address"))), int(a["prefixlen"]))
            for a in pod.addr("dump", index=index)
        )
    gateways: set[IPAddress] = set()
    for family in (socket.AF_INET, socket.AF_INET6):
        with _kernel("route", f"dump routes of {ifname}"):
            routes = list(pod.route("dump", family=family))
        for r in routes:
            if r["dst_len"] == 0 and r.get("oif") == index and r.get("gateway"):
                gateways.add(ip_address(str(r.get("gateway"))))
    return PodObserved(
        kind=link_kind(link),
        mac=str(link.get("address")),
        up=bool(link["flags"] & _IFF_UP),
        addresses=addrs,
        default_gateways=frozenset(gateways),
    )


@dataclass
class _Wiring:
    """One ``wire_pod`` in steps; each step registers its undo before the next runs.

    Only host-side steps need an undo: everything in the pod netns lives on the
    pod end of the veth and disappears with it.
    """

    nl: Netlink
    host: Any
    pod: Any
    pod_fd: int
    netns: str
    ifname: str
    host_ifname: str
    addresses: tuple[IPAddress, ...]
    mtu: int
    undo: list[Callable[[], None]]

    def run(self) -> PodWiring:
        # A host veth with this name is left over from a crashed ADD of the same
        # key; its pod end (if any) goes with it, so the retry starts clean.
        with suppress(LinkNotFound):
            Netlink._delete_link(self.host, self.host_ifname)
        self._create_veth()
        host_link = Netlink._link_get(self.host, self.host_ifname)
        host_index, host_mac = int(host_link["index"]), str(host_link.get("address"))
        # The host veth must never learn routes or addresses from router
        # advertisements a pod sends (the file is missing only without IPv6).
        accept_ra = {f"net.ipv6.conf.{self.host_ifname}.accept_ra": "0"}
        write_sysctls(self.nl._host_fd, accept_ra, missing_ok=True)
        pod_link = Netlink._link_get(self.pod, self.ifname)
        index = int(pod_link["index"])
        with _kernel("link", f"bring up {self.ifname} and lo in {self.netns}"):
            self.pod.link("set", index=index, state="up")
            self.pod.link("set", ifname="lo", state="up")
        for addr in self.addresses:
            self._address_pod(index=index, addr=addr, host_mac=host_mac)
        if any(a.version == 6 for a in self.addresses):
            self._address_host_v6(host_index)
        for addr in self.addresses:
            self.nl._route(self.host, "replace", dst=addr, oif=host_index)
            self.undo.append(partial(self.nl._route, self.host, "del", dst=addr, oif=host_index))
        return PodWiring(
            netns=self.netns,
            ifname=self.ifname,
            ifindex=index,
            mac=str(pod_link.get("address")),
            host_ifname=self.host_ifname,
            host_ifindex=host_index,
            host_mac=host_mac,
            mtu=self.mtu,
            addresses=self.addresses,
        )

    def _create_veth(self) -> None:
        # The pair is created from the node side with the peer placed straight
        # into the pod netns under its final name (net_ns_fd), so the pod end is
        # never visible in the node netns and never renamed. MTU is set on both
        # ends at creation. The old host veth was deleted just before, so EEXIST
        # means the pod netns already has ``ifname``.
        peer = {"ifname": self.ifname, "net_ns_fd": self.pod_fd, "mtu": self.mtu}
        try:
            with _kernel("link", f"create veth {self.host_ifname}"):
                self.host.link(
                    "add", ifname=self.host_ifname, kind="veth", mtu=self.mtu, state="up", peer=peer
                )
        except LinkConflict as exc:
            what = f"netns {self.netns} already has a link named {self.ifname}"
            raise LinkConflict(what, errno=exc.errno) from exc
        self.undo.append(partial(Netlink._delete_link, self.host, self.host_ifname))

    def _address_pod(self, *, index: int, addr: IPAddress, host_mac: str) -> None:
        # The pod gets its address alone (/32, /128): no connected subnet, so
        # every destination, even a pod on the same node, goes through the
        # gateway and therefore through the node's routing table.
        #
        # The gateway is a link-local address nobody owns on the wire. A
        # permanent neighbour entry maps it to the host veth's MAC, so the pod
        # never has to resolve it: no proxy ARP, no proxy_delay, no NDP round
        # trip. IPv4 also needs "<gw> dev eth0 scope link" so that the default
        # route's next hop is on-link; IPv6 link-local gateways always are.
        # IPv6 addresses skip DAD (nodad): usable at once, and the only other
        # host on this link is the node.
        gw, family = self.nl._gateways.for_address(addr), address_family(addr)
        with _kernel("addr", f"add {addr} to {self.ifname}"):
            flags = _IFA_F_NODAD if addr.version == 6 else 0
            prefixlen = addr.max_prefixlen
            self.pod.addr("add", index=index, address=str(addr), prefixlen=prefixlen, flags=flags)
        with _kernel("neigh", f"add neighbour {gw} on {self.ifname}"):
            self.pod.neigh(
                "replace", dst=str(gw), lladdr=host_mac, ifindex=index, state=_NUD_PERMANENT,
                family=family,
            )  # fmt: skip
        if addr.version == 4:
            self.nl._route(self.pod, "replace", dst=gw, oif=index)
        default = ip_network("0.0.0.0/0" if addr.version == 4 else "::/0")
        self.nl._route(self.pod, "add", dst=default, gateway=str(gw), oif=index)

    def _address_host_v6(self, host_index: int) -> None:
        # The host veth owns the IPv6 gateway (fe80::1/64, nodad). Neighbour
        # discovery towards the pod needs a usable link-local source address,
        # and the veth's own EUI-64 link-local stays tentative for a second.
        gw = self.nl._gateways.v6
        with _kernel("addr", f"add {gw} to {self.host_ifname}"):
            self.host.addr(
                "add", index=host_index, address=str(gw), prefixlen=64, flags=_IFA_F_NODAD
            )
