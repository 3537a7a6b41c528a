"""rtnetlink messages for the hot path of ADD, encoded and decoded by hand.

pyroute2 spends 0.3 to 0.5 ms of Python on every request it sends (its request
filters, its NLA classes, an event loop turn), and a pod's wiring takes a dozen
requests. The ~10 message shapes the wiring sends are simple enough to pack with
:mod:`struct`, and several of them go to the kernel in one ``send()`` (the kernel
runs the messages of one datagram in order and acknowledges each), so a pod costs
three round trips instead of twelve. Everything else (dumps for reconcile and
CHECK, deletions) stays with pyroute2 in :mod:`node_agent.netlink`.

Pure: bytes in, bytes out. The layouts are the kernel's UAPI
(``linux/netlink.h``, ``linux/rtnetlink.h``, ``linux/if_link.h``, ``linux/veth.h``,
``linux/if_addr.h``, ``linux/neighbour.h``); all integers are in host byte order.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from node_agent.podnet import IPAddress, address_family

# nlmsghdr
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NETLINK_CAP_ACK = 10
"""Socket option: error acks carry the request's header only, not its payload."""

# message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_NEWNEIGH = 28

# attributes
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
NDA_DST = 1
NDA_LLADDR = 2

IFF_UP = 0x1
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
_ATTR = struct.Struct("=HH")  # len, type
_U32 = struct.Struct("=I")
_ERRNO = struct.Struct("=i")

CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
REPLACE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
CHANGE = NLM_F_REQUEST | NLM_F_ACK


@dataclass(frozen=True)
class Request:
    """One message of a batch: what it is (for errors) and its encoding without header."""

    kind: int
    flags: int
    body: bytes
    subject: str
    """What it touches, for errno translation: ``link``, ``addr``, ``neigh``, ``route``."""
    what: str
    """What it does, in words, for error messages."""


@dataclass
class Reply:
    """What the kernel answered to one message: its errno (0: done) and echoes."""

    errno: int | None = None
    """``None`` until the acknowledgement arrived."""
    echoed: list[tuple[int, bytes]] = field(default_factory=list)
    """(type, payload) of the messages the kernel echoed (``NLM_F_ECHO``)."""


def _attr(kind: int, payload: bytes) -> bytes:
    size = _ATTR.size + len(payload)
    return _ATTR.pack(size, kind) + payload + b"\0" * (-size % 4)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _ip(address: IPAddress) -> bytes:
    return address.packed


def encode(requests: list[Request], *, first_seq: int) -> bytes:
    """The batch as one datagram; message ``i`` carries sequence ``first_seq + i``."""
    out = bytearray()
    for i, r in enumerate(requests):
        out += _HEADER.pack(_HEADER.size + len(r.body), r.kind, r.flags, first_seq + i, 0)
        out += r.body
    return bytes(out)


def parse(data: bytes) -> Iterator[tuple[int, int, int | None, bytes]]:
    """(type, seq, errno or None, payload) of each message in a datagram from the kernel."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, seq, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            return
        payload = data[offset + _HEADER.size : offset + length]
        errno = -_ERRNO.unpack_from(payload)[0] if kind == NLMSG_ERROR else None
        yield kind, seq, errno, payload
        offset += (length + 3) & ~3


def attributes(payload: bytes, *, skip: int) -> dict[int, bytes]:
    """The top-level attributes after a fixed header of ``skip`` bytes (last one wins)."""
    found: dict[int, bytes] = {}
    offset = skip
    while offset + _ATTR.size <= len(payload):
        size, kind = _ATTR.unpack_from(payload, offset)
        if size < _ATTR.size:
            break
        found[kind & 0x3FFF] = payload[offset + _ATTR.size : offset + size]
        offset += (size + 3) & ~3
    return found


def link_of(payload: bytes) -> tuple[int, int | None]:
    """(ifindex, IFLA_LINK) of an ``RTM_NEWLINK`` payload; a veth's IFLA_LINK is the
    ifindex of its peer, in the peer's namespace."""
    _, _, index, _, _ = _IFINFO.unpack_from(payload)
    link = attributes(payload, skip=_IFINFO.size).get(IFLA_LINK)
    return index, None if link is None else _U32.unpack(link[:4])[0]


# -- the requests ------------------------------------------------------------------------


def new_veth(
    *, ifname: str, mac: bytes, peer_ifname: str, peer_mac: bytes, peer_netns_fd: int, mtu: int
) -> Request:
    """A veth pair, MACs and MTU set, the peer created in another netns under its final
    name (echo asked: the answer carries both ifindexes). This end comes up; the peer
    cannot (veth_open fails with ENOTCONN until the pair is linked): bring it up next."""
    up = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
    peer = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + b"".join(
        (
            _attr(IFLA_IFNAME, _name(peer_ifname)),
            _attr(IFLA_ADDRESS, peer_mac),
            _attr(IFLA_MTU, _U32.pack(mtu)),
            _attr(IFLA_NET_NS_FD, _U32.pack(peer_netns_fd)),
        )
    )
    info = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
    body = up + b"".join(
        (
            _attr(IFLA_IFNAME, _name(ifname)),
            _attr(IFLA_ADDRESS, mac),
            _attr(IFLA_MTU, _U32.pack(mtu)),
            _attr(IFLA_LINKINFO, info),
        )
    )
    return Request(RTM_NEWLINK, CREATE | NLM_F_ECHO, body, "link", f"create veth {ifname}")


def get_link(ifname: str) -> Request:
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(ifname))
    return Request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, body, "link", f"get link {ifname}")


def set_up(ifname: str, *, index: int = 0) -> Request:
    """Bring a link up, by ifindex when given, else by name."""
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
    if not index:
        body += _attr(IFLA_IFNAME, _name(ifname))
    return Request(RTM_SETLINK, CHANGE, body, "link", f"bring up {ifname}")


def set_alias(index: int, alias: str) -> Request:
    # The kernel ignores IFLA_IFALIAS in RTM_NEWLINK; it takes it on a set.
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _attr(IFLA_IFALIAS, _name(alias))
    return Request(RTM_SETLINK, CHANGE, body, "link", f"set alias of link {index}")


def delete_link(index: int) -> Request:
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    return Request(RTM_DELLINK, CHANGE, body, "link", f"delete link {index}")


def new_address(
    *, index: int, ifname: str, address: IPAddress, prefixlen: int, nodad: bool
) -> Request:
    family = address_family(address)
    flags = IFA_F_NODAD if nodad else 0
    body = _IFADDR.pack(family, prefixlen, flags, RT_SCOPE_UNIVERSE, index)
    body += _attr(IFA_ADDRESS, _ip(address))
    if isinstance(address, IPv4Address):
        body += _attr(IFA_LOCAL, _ip(address))
    return Request(RTM_NEWADDR, CREATE, body, "addr", f"add {address} to {ifname}")


def permanent_neighbour(*, index: int, ifname: str, address: IPAddress, mac: bytes) -> Request:
    body = _NDMSG.pack(address_family(address), index, NUD_PERMANENT, 0, 0)
    body += _attr(NDA_DST, _ip(address)) + _attr(NDA_LLADDR, mac)
    return Request(RTM_NEWNEIGH, REPLACE, body, "neigh", f"add neighbour {address} on {ifname}")


def new_route(
    *,
    flags: int,
    dst: IPAddress | None,
    oif: int,
    protocol: int,
    gateway: IPAddress | None = None,
    priority: int | None = None,
) -> Request:
    """A main-table unicast route: ``dst`` as a host route (``None``: the default route,
    which needs a ``gateway``) via ``oif``, scope link when it has no gateway (IPv4),
    through ``gateway`` otherwise. The family is that of ``dst`` (or of ``gateway``)."""
    on = dst if dst is not None else gateway
    if on is None:
        raise ValueError("a default route needs a gateway")
    family = address_family(on)
    host = 0 if dst is None else dst.max_prefixlen
    scope = RT_SCOPE_LINK if gateway is None and family == socket.AF_INET else RT_SCOPE_UNIVERSE
    body = _RTMSG.pack(family, host, 0, 0, RT_TABLE_MAIN, protocol, scope, RTN_UNICAST, 0)
    if dst is not None:
        body += _attr(RTA_DST, _ip(dst))
    if gateway is not None:
        body += _attr(RTA_GATEWAY, _ip(gateway))
    body += _attr(RTA_OIF, _U32.pack(oif))
    if priority is not None:
        body += _attr(RTA_PRIORITY, _U32.pack(priority))
    verb = "replace" if flags & NLM_F_REPLACE else "add"
    where = (
        f"{'0.0.0.0' if family == socket.AF_INET else '::'}/0" if dst is None else f"{dst}/{host}"
    )
    return Request(RTM_NEWROUTE, flags, body, "route", f"route {verb} {where}")
