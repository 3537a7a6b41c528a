"""Wiring one pod with hand-encoded rtnetlink batches (:mod:`node_agent.netlink.rtnl`).

Three round trips, each one ``send()`` of one or more messages and the replies::

    node netns  1. veth pair: the host end up, MACs and MTU set, the pod end created
                   in the pod netns under its final name; echoed, so the answer carries
                   the host ifindex and the pod end's ifindex
                (accept_ra=0 on the host veth: a sysctl file, not netlink)
    pod netns   2. the pod end and lo up; per address: the /32 (/128), the gateway's
                   permanent neighbour entry, the on-link gateway route (IPv4), the
                   default route
    node netns  3. the host veth's ifalias; fe80::1/64 on it (IPv6); the host routes

The MACs are chosen here (random, locally administered) rather than read back: one
round trip less, and a MAC the kernel marks as set is one udev's MACAddressPolicy
leaves alone, so the pod's neighbour entry for its gateway never goes stale.

:class:`RtnlSocket` translates every errno through :func:`podnet.kernel_error`, the
table all kernel calls share. A failure undoes what was created (the caller runs
``undo``): deleting the host veth deletes its pod end, every address and route in the
pod netns, and the host routes through it.
"""

from __future__ import annotations

import errno
import os
import random
import socket
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from node_agent.errors import LinkConflict, LinkNotFound, NetlinkError
from node_agent.netlink import rtnl
from node_agent.netns import write_sysctls
from node_agent.podnet import Gateways, IPAddress, PodWiring, kernel_error

SOL_NETLINK = 270
RECV_SIZE = 65536
MAX_READS = 64
"""Datagrams read for one batch before giving up (a batch answers in one or two)."""
REPLY_TIMEOUT = 5.0
"""Seconds a reply may take; the kernel answers rtnetlink requests within ``send()``."""


class RtnlSocket:
    """A NETLINK_ROUTE socket (bound to its netns when it was opened) that runs batches."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setsockopt(SOL_NETLINK, rtnl.NETLINK_CAP_ACK, 1)
        sock.settimeout(REPLY_TIMEOUT)
        self._seq = random.randrange(1, 1 << 30)

    def close(self) -> None:
        self.sock.close()

    def run(self, requests: Sequence[rtnl.Request]) -> list[rtnl.Reply]:
        """Send ``requests`` in one datagram; each one's reply (errno 0: done)."""
        first = self._seq
        self._seq = (self._seq + len(requests)) % (1 << 31) or 1
        replies = [rtnl.Reply() for _ in requests]
        waiting = len(requests)
        try:
            self.sock.send(rtnl.encode(list(requests), first_seq=first))
            for _ in range(MAX_READS):
                for kind, seq, code, payload in rtnl.parse(self.sock.recv(RECV_SIZE)):
                    index = seq - first
                    if not 0 <= index < len(requests):
                        continue  # the answer to an earlier, abandoned batch
                    if kind == rtnl.NLMSG_ERROR:
                        replies[index].errno = code
                        waiting -= 1
                    else:
                        replies[index].echoed.append((kind, payload))
                if waiting == 0:
                    return replies
        except OSError as exc:
            raise kernel_error(requests[0].subject, exc.errno or errno.EIO, "netlink") from exc
        raise NetlinkError(f"no answer from the kernel to {requests[0].what}")

    def check(self, requests: Sequence[rtnl.Request]) -> list[rtnl.Reply]:
        """:meth:`run`, raising the domain error of the first request that failed."""
        replies = self.run(requests)
        for request, reply in zip(requests, replies, strict=True):
            if reply.errno:
                raise kernel_error(request.subject, reply.errno, request.what)
        return replies


def random_mac() -> bytes:
    """A random unicast, locally administered MAC address (what the kernel would pick)."""
    mac = bytearray(os.urandom(6))
    mac[0] = (mac[0] & 0xFE) | 0x02
    return bytes(mac)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


@dataclass(frozen=True)
class PodSpec:
    """One attachment to wire."""

    netns: str
    ifname: str
    host_ifname: str
    addresses: tuple[IPAddress, ...]
    mtu: int
    alias: str
    gateways: Gateways
    protocol: int
    """rtm_protocol of every route created (how the adapter finds its own)."""


def wire(
    spec: PodSpec,
    *,
    host: RtnlSocket,
    pod: RtnlSocket,
    pod_fd: int,
    host_fd: int | None,
    undo: list[Callable[[], None]],
) -> PodWiring:
    """Create the veth pair, address the pod end and route it (caller undoes on failure)."""
    host_mac, pod_mac = random_mac(), random_mac()
    host_index, pod_index = _create_veth(spec, host, pod_fd, host_mac, pod_mac, undo)
    # The host veth must never learn routes or addresses from router advertisements
    # a pod sends (the file is missing only without IPv6).
    write_sysctls(host_fd, {f"net.ipv6.conf.{spec.host_ifname}.accept_ra": "0"}, missing_ok=True)
    _address_pod(spec, pod, pod_index, host_mac)
    _route_host(spec, host, host_index)
    return PodWiring(
        netns=spec.netns,
        ifname=spec.ifname,
        ifindex=pod_index,
        mac=mac_text(pod_mac),
        host_ifname=spec.host_ifname,
        host_ifindex=host_index,
        host_mac=mac_text(host_mac),
        mtu=spec.mtu,
        addresses=spec.addresses,
    )


def _create_veth(
    spec: PodSpec,
    host: RtnlSocket,
    pod_fd: int,
    host_mac: bytes,
    pod_mac: bytes,
    undo: list[Callable[[], None]],
) -> tuple[int, int]:
    # EEXIST means one of the two names is taken: a host veth of that name is left
    # over from a crashed ADD of the same key (its pod end, if any, goes with it, and
    # the retry starts clean), otherwise the pod netns already has ``ifname``.
    create = rtnl.new_veth(
        ifname=spec.host_ifname, mac=host_mac, peer_ifname=spec.ifname, peer_mac=pod_mac,
        peer_netns_fd=pod_fd, mtu=spec.mtu,
    )  # fmt: skip
    for attempt in range(2):
        try:
            (reply,) = host.check([create])
            break
        except LinkConflict as exc:
            stale = _host_index(host, spec.host_ifname) if attempt == 0 else None
            if stale is None:
                what = f"netns {spec.netns} already has a link named {spec.ifname}"
                raise LinkConflict(what, errno=exc.errno) from exc
            _delete(host, stale)
    echoed = [p for kind, p in reply.echoed if kind == rtnl.RTM_NEWLINK]
    if echoed:
        host_index, pod_index = rtnl.link_of(echoed[0])
    else:  # a kernel without NLM_F_ECHO for links (before 6.1): ask
        (got,) = host.check([rtnl.get_link(spec.host_ifname)])
        host_index, pod_index = rtnl.link_of(got.echoed[0][1])
    undo.append(lambda: _delete(host, host_index))
    if pod_index is None:
        raise NetlinkError(f"veth {spec.host_ifname} reports no peer")
    return host_index, pod_index


def _address_pod(spec: PodSpec, pod: RtnlSocket, index: int, host_mac: bytes) -> None:
    # The pod gets its address alone (/32, /128): no connected subnet, so every
    # destination, even a pod on the same node, goes through the gateway and
    # therefore through the node's routing table.
    #
    # The gateway is a link-local address nobody owns on the wire. A permanent
    # neighbour entry maps it to the host veth's MAC, so the pod never has to
    # resolve it: no proxy ARP, no proxy_delay, no NDP round trip. IPv4 also needs
    # "<gw> dev eth0 scope link" so that the default route's next hop is on-link;
    # IPv6 link-local gateways always are. IPv6 addresses skip DAD (nodad): usable
    # at once, and the only other host on this link is the node.
    batch = [rtnl.set_up(spec.ifname, index=index), rtnl.set_up("lo")]
    defaults: list[int] = []
    for addr in spec.addresses:
        gw = spec.gateways.for_address(addr)
        batch.append(
            rtnl.new_address(
                index=index, ifname=spec.ifname, address=addr, prefixlen=addr.max_prefixlen,
                nodad=addr.version == 6,
            )
        )  # fmt: skip
        batch.append(
            rtnl.permanent_neighbour(index=index, ifname=spec.ifname, address=gw, mac=host_mac)
        )
        if addr.version == 4:
            batch.append(_pod_route(spec, dst=gw, index=index))
        defaults.append(len(batch))
        batch.append(_pod_route(spec, dst=None, gateway=gw, index=index))
    replies = pod.run(batch)
    retry: list[rtnl.Request] = []
    for position, (request, reply) in enumerate(zip(batch, replies, strict=True)):
        if position in defaults and reply.errno == errno.EEXIST:
            # A second attachment of the same container (eth0 and net1, CNI-118): the
            # first one's default route stays preferred; ours is a fallback with a
            # worse metric, so deleting either attachment leaves a default.
            gw = spec.gateways.for_address(spec.addresses[defaults.index(position)])
            retry.append(_pod_route(spec, dst=None, gateway=gw, index=index, priority=index))
        elif reply.errno:
            raise kernel_error(request.subject, reply.errno, request.what)
    if retry:
        pod.check(retry)


def _pod_route(
    spec: PodSpec,
    *,
    dst: IPAddress | None,
    index: int,
    gateway: IPAddress | None = None,
    priority: int | None = None,
) -> rtnl.Request:
    flags = rtnl.REPLACE if dst is not None else rtnl.CREATE
    return rtnl.new_route(
        flags=flags, dst=dst, oif=index, protocol=spec.protocol, gateway=gateway, priority=priority
    )


def _route_host(spec: PodSpec, host: RtnlSocket, index: int) -> None:
    batch: list[rtnl.Request] = []
    if spec.alias:
        batch.append(rtnl.set_alias(index, spec.alias))
    if any(a.version == 6 for a in spec.addresses):
        # The host veth owns the IPv6 gateway (fe80::1/64, nodad). Neighbour discovery
        # towards the pod needs a usable link-local source address, and the veth's own
        # EUI-64 link-local stays tentative for a second.
        gw = spec.gateways.v6
        batch.append(
            rtnl.new_address(
                index=index, ifname=spec.host_ifname, address=gw, prefixlen=64, nodad=True
            )
        )
    for addr in spec.addresses:
        batch.append(
            rtnl.new_route(flags=rtnl.REPLACE, dst=addr, oif=index, protocol=spec.protocol)
        )
    host.check(batch)


def _host_index(host: RtnlSocket, ifname: str) -> int | None:
    try:
        (reply,) = host.check([rtnl.get_link(ifname)])
    except LinkNotFound:
        return None
    return rtnl.link_of(reply.echoed[0][1])[0]


def _delete(host: RtnlSocket, index: int) -> None:
    with suppress(LinkNotFound):
        host.check([rtnl.delete_link(index)])
