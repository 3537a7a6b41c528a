"""What a ToR config is rendered from: plain frozen data, no I/O.

The service layer fills a :class:`TorConfigSpec` from the database and IPAM; the
renderers (:mod:`.bird`, :mod:`.frr`) turn it into text. Everything a renderer needs
to decide is here, so the same spec always gives the same bytes (and the same ETag).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Literal

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Family = Literal[4, 6]

# Identifier rules shared by both daemons: BIRD symbols are [A-Za-z_][A-Za-z0-9_]* (at
# most 64 characters); FRR names are WORDs. Node names may be 253 characters of
# [a-z0-9.-], so long or rewritten names get a digest suffix that keeps them distinct.
_UNSAFE = re.compile(r"[^a-z0-9]")
IDENT_MAX = 40


def _network_key(net: IPv4Network | IPv6Network) -> tuple[int, int, int]:
    return net.version, int(net.network_address), net.prefixlen


def ident(name: str) -> str:
    """A name safe in both daemons' configs, distinct for distinct names."""
    safe = _UNSAFE.sub("_", name.lower())
    if safe == name and len(name) <= IDENT_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe[:IDENT_MAX]}_{digest}"


@dataclass(frozen=True)
class Policy:
    """Session policy of the fabric, as the ToR applies it to node sessions."""

    hold_time: int
    keepalive_time: int
    graceful_restart_time: int
    max_prefixes: int
    max_prefix_restart_minutes: int
    md5_password: str | None = None


@dataclass(frozen=True)
class TorSide:
    name: str
    asn: int
    router_id: IPv4Address
    address_v4: IPv4Address | None
    address_v6: IPv6Address | None

    def address(self, family: Family) -> Address | None:
        return self.address_v4 if family == 4 else self.address_v6


@dataclass(frozen=True)
class NodeSide:
    """A node of the rack: its peering address, its ASN and the blocks it holds now."""

    name: str
    address: Address
    asn: int
    blocks: tuple[Network, ...]

    def __post_init__(self) -> None:
        # Address order, whatever order IPAM listed them in: same blocks, same bytes.
        object.__setattr__(self, "blocks", tuple(sorted(self.blocks, key=_network_key)))

    @property
    def family(self) -> Family:
        return 4 if self.address.version == 4 else 6

    def blocks_of(self, family: Family) -> tuple[Network, ...]:
        return tuple(b for b in self.blocks if b.version == family)

    def uncarried(self) -> tuple[Network, ...]:
        """Blocks of the other family: no session of this node can carry them."""
        return tuple(b for b in self.blocks if b.version != self.family)


@dataclass(frozen=True)
class CollectorSession:
    """One session from the ToR to the controller's route collector."""

    address: Address
    """The collector's listen address (the ToR dials it: the collector is passive)."""
    local: Address
    """The ToR's source address, the one the collector expects the session from."""
    families: tuple[Family, ...]
    """Families the session carries (both on a lone session; its own with one per family)."""


@dataclass(frozen=True)
class CollectorSide:
    """The controller's receive-only route collector, as the ToR peers with it."""

    asn: int
    port: int
    hold_time: int
    connect_retry: int
    """Seconds between the ToR's connection attempts (the collector never dials)."""
    error_wait: tuple[int, int]
    """BIRD's error wait (min, max) after a session error, e.g. the collector restarting."""
    multihop: int
    """0: the collector is on a directly connected network; else the eBGP TTL."""
    sessions: tuple[CollectorSession, ...]
    md5_password: str | None = None


@dataclass(frozen=True)
class TorConfigSpec:
    rack: str
    fabric: str
    peering: Literal["static", "dynamic"]
    asn_model: Literal["per-rack", "per-node"]
    tor: TorSide
    policy: Policy
    subnets: tuple[Network, ...]
    """The rack's node subnets (the dynamic listen ranges)."""
    rack_asn: int | None = None
    """The nodes' shared ASN in the per-rack model."""
    nodes: tuple[NodeSide, ...] = field(default_factory=tuple)
    collector: CollectorSide | None = None
    """The route collector's session(s), when the controller runs one for this ToR."""
    notes: tuple[str, ...] = ()
    """Extra lines for the header (e.g. why there is no collector session)."""

    def __post_init__(self) -> None:
        # Name order, whatever order the nodes came in: same rack, same bytes.
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda n: n.name)))
        object.__setattr__(self, "subnets", tuple(sorted(self.subnets, key=_network_key)))

    def families(self) -> tuple[Family, ...]:
        """Families the ToR can peer in (it has an address of that family)."""
        found: list[Family] = []
        if self.tor.address_v4 is not None:
            found.append(4)
        if self.tor.address_v6 is not None:
            found.append(6)
        return tuple(found)

    def peers(self, family: Family) -> tuple[NodeSide, ...]:
        """Nodes that peer with this ToR in ``family``, in name order."""
        return tuple(n for n in self.nodes if n.family == family)

    def ranges(self, family: Family) -> tuple[Network, ...]:
        return tuple(s for s in self.subnets if s.version == family)


def header(spec: TorConfigSpec, *, daemon: str, comment: str) -> list[str]:
    """The opening comment block: what this is and what it was generated from."""
    lines = [
        f"flatnet ToR config for {spec.tor.name} ({daemon}); generated, do not edit by hand.",
        f"rack {spec.rack}, fabric {spec.fabric}, ASN model {spec.asn_model},"
        f" {spec.peering} peering, {len(spec.nodes)} nodes.",
        "Each node may announce exactly the blocks it holds in IPAM, with itself as next hop.",
    ]
    for node in spec.nodes:
        for block in node.uncarried():
            lines.append(f"not carried: {block} of {node.name} (no IPv{block.version} session)")
    lines += spec.notes
    return [f"{comment} {line}" for line in lines]
