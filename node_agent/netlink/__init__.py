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
The hot path of ADD, ``wire_pod``, does not go through pyroute2: it sends hand-encoded
batches (:mod:`node_agent.netlink.wiring`, :mod:`node_agent.netlink.rtnl`), three round trips a pod.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from ipaddress import ip_address, ip_network
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError as _Pyroute2Error

from node_agent.errors import (
    LinkNotFound,
    NetlinkError,
    PodCheckError,
    RouteNotFound,
)
from node_agent.netlink.wiring import PodSpec, RtnlSocket, wire
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
_Socket = TypeVar("_Socket")

DEFAULT_ROUTE_PROTOCOL = 0xF1
"""rtm_protocol on every route flatnet creates (``ip route ... proto 241``)."""

_IFF_UP = 0x1
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


def _iproute(fd: int | None, where: str) -> Any:
    """An ``IPRoute`` bound to netns ``fd`` (None: here), no multicast groups; the caller
    closes it."""
    sock = route_socket(fd, where)
    try:
        return IPRoute(groups=0, use_socket=sock)
    except BaseException:
        sock.close()
        raise


@contextmanager
def _pod_iproute(path: str, host_fd: int | None) -> Iterator[Any]:
    """An ``IPRoute`` bound to the pod netns at ``path``, closed on exit."""
    with pod_netns_fd(path, host_fd) as fd:
        ipr = _iproute(fd, path)
        try:
            yield ipr
        finally:
            ipr.close()


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
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Release the host netns handle and every thread's socket; idempotent."""
        self._closed = True
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for ipr in opened:
            ipr.close()
        fd, self._host_fd = self._host_fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _per_thread(self, name: str, open_socket: Callable[[], _Socket]) -> _Socket:
        """The calling thread's socket ``name`` in the node netns, opened once per thread.

        Opening one costs ~0.6 ms (a setns thread, a socket, pyroute2's set-up) and
        the agent calls from a fixed pool of threads, so each thread keeps its own
        (an ``IPRoute`` is not shared between threads). :meth:`close` closes them all.
        """
        found: _Socket | None = getattr(self._local, name, None)
        if found is None:
            if self._closed:
                raise NetlinkError("the netlink adapter is closed")
            found = open_socket()
            setattr(self._local, name, found)
            with self._opened_lock:
                self._opened.append(found)
        return found

    def _host(self) -> Any:
        """The calling thread's ``IPRoute`` in the node netns (dumps, deletions, repairs)."""
        return self._per_thread("ipr", lambda: _iproute(self._host_fd, self._host_netns))

    def _host_rtnl(self) -> RtnlSocket:
        """The calling thread's raw rtnetlink socket in the node netns (wiring batches)."""
        return self._per_thread(
            "raw", lambda: RtnlSocket(route_socket(self._host_fd, self._host_netns))
        )

    @property
    def gateways(self) -> Gateways:
        """The link-local next hops pods route through."""
        return self._gateways

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
        alias: str = "",
    ) -> PodWiring:
        """Create the veth pair, address the pod end and route it; all or nothing.

        ``alias`` becomes the host veth's ``ifalias`` (the agent writes the
        attachment key there, so its state can be rebuilt from the kernel).
        Raises :class:`LinkConflict` when the pod netns already has ``ifname``
        and :class:`NamespaceNotFound` when ``netns`` is not a network namespace.
        """
        validate_ifname(ifname)
        validate_ifname(host_ifname)
        addrs = sorted_addresses(addresses)
        if not addrs:
            raise ValueError("wire_pod needs at least one address")
        spec = PodSpec(
            netns=netns, ifname=ifname, host_ifname=host_ifname, addresses=addrs, mtu=mtu,
            alias=alias, gateways=self._gateways, protocol=self._proto,
        )  # fmt: skip
        undo: list[Callable[[], None]] = []
        with self._locks.hold(host_ifname):
            host = self._host_rtnl()
            try:
                with pod_netns_fd(netns, self._host_fd) as pod_fd:
                    pod = RtnlSocket(route_socket(pod_fd, netns))
                    try:
                        return wire(
                            spec, host=host, pod=pod, pod_fd=pod_fd, host_fd=self._host_fd,
                            undo=undo,
                        )  # fmt: skip
                    finally:
                        pod.close()
            except BaseException:
                roll_back(undo)
                raise

    def unwire_pod(self, host_ifname: str) -> bool:
        """Delete the host veth and its host routes; ``False`` if it was already gone.

        Needs no netns and no prevResult (CNI-131): deleting one end of a veth
        deletes the other, wherever it is, and a deleted netns takes its end with
        it. The kernel flushes every route through a device it unregisters, so the
        host routes need no call of their own (dumping all routes to find them cost
        milliseconds per pod on a busy node). "Already gone" is fine (CNI-130).
        """
        with self._locks.hold(host_ifname):
            try:
                self._delete_link(self._host(), host_ifname)
            except LinkNotFound:
                return False
        return True

    def remove_host_routes(self, host_ifname: str, addresses: Iterable[IPAddress]) -> bool:
        """Delete the host routes of ``addresses`` via the host veth; ``False`` if it is gone.

        Cuts the pod off the node's routing table at once (traffic to the pod then
        meets the block's blackhole); the veth itself can be deleted later.
        """
        with self._locks.hold(host_ifname):
            host = self._host()
            try:
                index = self._link_index(host, host_ifname)
            except LinkNotFound:
                return False
            for address in addresses:
                with suppress(RouteNotFound, LinkNotFound):
                    self._route(host, "del", dst=address, oif=index)
        return True

    def ensure_host_route(self, *, host_ifname: str, address: IPAddress) -> None:
        """Install (or repair) ``address/32`` (``/128``) via the host veth; idempotent."""
        host = self._host()
        index = self._link_index(host, host_ifname)
        self._route(host, "replace", dst=address, oif=index)

    def list_pod_links(self) -> list[PodLink]:
        """Every host veth carrying the agent's prefix, with the pod addresses routed to it."""
        host = self._host()
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
                alias=str(m.get("ifalias") or ""),
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
        self._route(self._host(), "replace", dst=cidr, type="blackhole")

    def remove_blackhole(self, cidr: IPNetwork) -> None:
        """Delete our blackhole for ``cidr``; succeeds if it is absent."""
        with suppress(RouteNotFound):
            self._route(self._host(), "del", dst=cidr, type="blackhole")

    def list_blackholes(self) -> list[IPNetwork]:
        """Our blackhole routes, IPv4 first."""
        own = self._own_routes(self._host())
        return sorted_networks(n for n, rtype, _ in own if rtype == _RTN_BLACKHOLE)

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
        host = self._host()
        hlink = None
        with suppress(LinkNotFound):
            hlink = self._link_get(host, host_ifname)
        routed = self._routed_to(host).get(int(hlink["index"]), []) if hlink else []
        with _pod_iproute(netns, self._host_fd) as pod:
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
