"""The pure model of a pod's network wiring: names, records and diffs.

Nothing here does I/O or imports pyroute2; :mod:`node_agent.netlink` gathers
kernel state into these records and applies what these functions decide.

The wiring (Calico-style, no overlay, no bridge)::

    pod netns                          node netns
    eth0  10.244.1.5/32  <== veth ==>  fn3a9c0d1e2f4b5  (no IPv4 address)
          fd00::5/128                                    fe80::1/64 nodad
    169.254.1.1 dev eth0 scope link    10.244.1.5/32 dev fn3a9c0d1e2f4b5 scope link
    default via 169.254.1.1 dev eth0   fd00::5/128   dev fn3a9c0d1e2f4b5
    default via fe80::1 dev eth0
    neigh 169.254.1.1, fe80::1 -> host veth MAC (permanent)
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any, TypeAlias

from node_agent.errors import (
    InterfaceNameError,
    LinkConflict,
    LinkNotFound,
    NamespaceNotFound,
    NetlinkError,
    RouteNotFound,
)

IPAddress: TypeAlias = IPv4Address | IPv6Address
IPNetwork: TypeAlias = IPv4Network | IPv6Network

IFNAMSIZ = 16
"""Kernel buffer for an interface name, including the terminating NUL."""

DEFAULT_HOST_PREFIX = "fn"
"""Prefix of every host veth the agent creates; lets it recognise its own links."""


# The one place errno becomes a domain error: (what was touched, errno) -> error.
KERNEL_ERRORS: dict[tuple[str, int], type[NetlinkError]] = {
    ("netns", errno.ENOENT): NamespaceNotFound,  # path gone, or /proc/<pid> exited
    ("netns", errno.EINVAL): NamespaceNotFound,  # file left behind, no longer an nsfs mount
    ("netns", errno.ESRCH): NamespaceNotFound,
    ("link", errno.ENODEV): LinkNotFound,
    ("link", errno.EEXIST): LinkConflict,
    ("addr", errno.ENODEV): LinkNotFound,
    ("neigh", errno.ENODEV): LinkNotFound,
    ("route", errno.ENODEV): LinkNotFound,
    ("route", errno.ESRCH): RouteNotFound,
}


def kernel_error(subject: str, code: int, what: str) -> NetlinkError:
    """The domain error for ``code`` from an operation on ``subject`` (netns, link, ...)."""
    cls = KERNEL_ERRORS.get((subject, code), NetlinkError)
    return cls(f"{what}: {os.strerror(code)}", errno=code)


def validate_ifname(ifname: str) -> str:
    """Return ``ifname`` unchanged, or raise :class:`InterfaceNameError` (dev_valid_name)."""
    raw = ifname.encode()
    if not raw or len(raw) >= IFNAMSIZ or ifname in {".", ".."}:
        raise InterfaceNameError(f"invalid interface name {ifname!r}: 1 to 15 bytes")
    if any(ch == "/" or ch == ":" or ch.isspace() for ch in ifname):
        raise InterfaceNameError(f"invalid interface name {ifname!r}: '/', ':' or space")
    return ifname


def host_ifname(container_id: str, ifname: str, *, prefix: str = DEFAULT_HOST_PREFIX) -> str:
    """Deterministic host veth name for the attachment ``(container_id, ifname)``.

    Derived from the CNI key rather than the pod name, so two sandboxes of the
    same pod never collide (REF-07) and DEL finds the link with no netns and no
    prevResult (CNI-131).
    """
    if not prefix or len(prefix) > 4:
        raise InterfaceNameError(f"host veth prefix {prefix!r} must be 1 to 4 characters")
    digest = hashlib.sha256(f"{container_id}\0{ifname}".encode()).hexdigest()
    return validate_ifname(prefix + digest[: IFNAMSIZ - 1 - len(prefix)])


def is_host_ifname(name: str, *, prefix: str = DEFAULT_HOST_PREFIX) -> bool:
    """Whether ``name`` has the shape of a host veth made by :func:`host_ifname`."""
    tail = name[len(prefix) :]
    return (
        name.startswith(prefix)
        and len(name) == IFNAMSIZ - 1
        and all(ch in "0123456789abcdef" for ch in tail)
    )


def host_network(address: IPAddress) -> IPNetwork:
    """The single-address prefix (/32 or /128) routed to one pod address."""
    return ip_network(address)


def sorted_addresses(addresses: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
    """Addresses deduplicated, IPv4 first, in numeric order."""
    return tuple(sorted(set(addresses), key=lambda a: (a.version, int(a))))


@dataclass(frozen=True)
class Gateways:
    """The link-local next hops every pod routes through."""

    v4: IPv4Address = field(default_factory=lambda: IPv4Address("169.254.1.1"))
    v6: IPv6Address = field(default_factory=lambda: IPv6Address("fe80::1"))

    def __post_init__(self) -> None:
        if not self.v4.is_link_local or not self.v6.is_link_local:
            raise ValueError(f"gateways must be link-local, got {self.v4} and {self.v6}")

    def for_address(self, address: IPAddress) -> IPAddress:
        """The gateway of the family of ``address``."""
        return self.v4 if address.version == 4 else self.v6


@dataclass(frozen=True)
class PodWiring:
    """What :meth:`Netlink.wire_pod` created for one attachment."""

    netns: str
    ifname: str
    ifindex: int
    mac: str
    host_ifname: str
    host_ifindex: int
    host_mac: str
    mtu: int
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class PodLink:
    """One host veth of the agent, as found in the node netns."""

    host_ifname: str
    ifindex: int
    mac: str
    mtu: int
    up: bool
    peer_ifindex: int | None
    """ifindex of the pod end inside its netns, if the kernel reports it."""
    peer_netnsid: int | None
    """The node netns's id for the pod netns, if one is assigned."""
    addresses: tuple[IPAddress, ...] = ()
    """Pod addresses whose host route (with the agent's proto) points at this veth."""
    alias: str = ""
    """The veth's ``ifalias``: the agent writes the attachment key there."""


@dataclass(frozen=True)
class RouteDiff:
    """What a full sync must add and delete to reach the desired prefixes."""

    missing: tuple[IPNetwork, ...] = ()
    extra: tuple[IPNetwork, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.missing and not self.extra


def _net_key(net: IPNetwork) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def sorted_networks(networks: Iterable[IPNetwork]) -> list[IPNetwork]:
    """Prefixes deduplicated, IPv4 first, in numeric order."""
    return sorted(set(networks), key=_net_key)


def diff_networks(desired: Iterable[IPNetwork], actual: Iterable[IPNetwork]) -> RouteDiff:
    """Compare desired and installed prefixes (Coil-style full sync)."""
    want, have = set(desired), set(actual)
    return RouteDiff(
        missing=tuple(sorted_networks(want - have)),
        extra=tuple(sorted_networks(have - want)),
    )


@dataclass(frozen=True)
class PodExpected:
    """What CHECK expects to find for one attachment."""

    ifname: str
    host_ifname: str
    addresses: tuple[IPAddress, ...]
    gateways: Gateways = field(default_factory=Gateways)
    mac: str | None = None
    """Pod MAC from prevResult; ``None`` skips the comparison."""


@dataclass(frozen=True)
class PodObserved:
    """What the kernel reports for one attachment; ``None`` marks a missing link."""

    kind: str | None
    mac: str = ""
    up: bool = False
    addresses: frozenset[tuple[IPAddress, int]] = frozenset()
    """(address, prefixlen) pairs on the pod interface."""
    default_gateways: frozenset[IPAddress] = frozenset()
    host_up: bool | None = None
    host_routes: frozenset[IPAddress] = frozenset()
    """Pod addresses routed (with the agent's proto) to the host veth."""


def check_findings(expected: PodExpected, observed: PodObserved) -> list[str]:
    """Every way ``observed`` falls short of ``expected``; empty means CHECK passes.

    Extra addresses and routes are tolerated: later plugins in a chain may add
    them (CNI-072).
    """
    if observed.kind is None:
        return [f"interface {expected.ifname} not found in the pod netns"]
    found: list[str] = []
    if observed.kind != "veth":
        found.append(f"interface {expected.ifname} is a {observed.kind or 'link'}, not a veth")
    if expected.mac is not None and observed.mac.lower() != expected.mac.lower():
        found.append(f"interface {expected.ifname} has MAC {observed.mac}, want {expected.mac}")
    if not observed.up:
        found.append(f"interface {expected.ifname} is down")
    for addr in expected.addresses:
        if (addr, addr.max_prefixlen) not in observed.addresses:
            found.append(f"address {addr}/{addr.max_prefixlen} missing on {expected.ifname}")
        gateway = expected.gateways.for_address(addr)
        if gateway not in observed.default_gateways:
            found.append(f"default route via {gateway} missing in the pod netns")
        if addr not in observed.host_routes:
            found.append(f"host route {host_network(addr)} dev {expected.host_ifname} missing")
    if observed.host_up is None:
        found.append(f"host veth {expected.host_ifname} not found")
    elif not observed.host_up:
        found.append(f"host veth {expected.host_ifname} is down")
    return list(dict.fromkeys(found))


def address_family(net: IPAddress | IPNetwork) -> int:
    """The socket family (AF_INET or AF_INET6) of an address or network."""
    return socket.AF_INET if net.version == 4 else socket.AF_INET6


def link_kind(msg: Any) -> str:
    """The ``linkinfo`` kind of a netlink link message (``veth``, ``dummy``...), or ''."""
    return str(msg.get(("linkinfo", "kind")) or "")
