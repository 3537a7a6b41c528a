"""The drift classifier: what IPAM says against what each ToR carries. Pure: no I/O.

Who announced a path (its *originating node*) is read from the path itself:

1. the origin AS, when it belongs to exactly one node (the AS-per-node model);
2. otherwise the next hop, when it is a node's address (AS per rack: the ASN is shared);
3. otherwise nobody we know.

Then every path inside a pool is one of:

=====================================  =========================================================
the prefix ...                         the path is ...
=====================================  =========================================================
held by H, announced by H or unknown   fine when its next hop is H's address (or H has no address
                                       of that family); on a ToR that serves H otherwise a
                                       **next-hop mismatch**; on other ToRs a transit path
held by H, announced by O != H         **stale** if O held the prefix before, else **rogue**
not held, announced by a node that     **stale** (a released block still announced); a deleted
held it before, or by nobody known     node is found the same way, by the blocks it released
but released before
not held, never released, or by a      **rogue** (IPAM never gave it to the announcer)
node that never held it
=====================================  =========================================================

and every held block that a ToR serving its node does not carry from that node is
**missing**, checked only on ToRs whose view of the family is complete (``TorView.covered``).

Each entry carries ``since``, the earliest moment the inputs prove the drift existed; the
:class:`~fabric_controller.drift.tracker.SinceTracker` keeps the first value across reports.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabric_controller.drift.rib import BgpPath, TorView, within
from fabric_controller.drift.settings import IPAddress, IPNetwork


class DriftKind(enum.StrEnum):
    MISSING = "missing"
    ROGUE = "rogue"
    STALE = "stale"
    NEXT_HOP_MISMATCH = "next-hop-mismatch"


@dataclass(frozen=True, slots=True)
class NodeRef:
    name: str
    addresses: frozenset[IPAddress]
    """Addresses the node's BGP sessions use as next hop (IPAM's node IP, and any other)."""
    asn: int | None = None
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class HeldBlock:
    prefix: IPNetwork
    node: str
    claimed_at: float


@dataclass(frozen=True, slots=True)
class ReleasedBlock:
    prefix: IPNetwork
    node: str
    released_at: float


@dataclass(frozen=True)
class IpamView:
    pools: Sequence[IPNetwork]
    nodes: Mapping[str, NodeRef]
    """Live nodes."""
    held: Mapping[IPNetwork, HeldBlock]
    released: Mapping[IPNetwork, Sequence[ReleasedBlock]] = field(default_factory=dict)
    """Past holders of each prefix, newest release first."""
    former: Mapping[str, NodeRef] = field(default_factory=dict)
    """Nodes deleted from IPAM, as last seen (so their next hops still resolve)."""


EntryKey = tuple[str, str, IPNetwork, str | None, IPAddress | None]
"""(kind, ToR, prefix, node, next hop)."""


@dataclass(frozen=True, slots=True)
class DriftEntry:
    kind: DriftKind
    prefix: IPNetwork
    node: str | None
    tor: str
    since: float
    next_hop: IPAddress | None = None
    expected_next_hop: IPAddress | None = None
    as_path: tuple[int, ...] = ()
    path_id: int | None = None
    detail: str = ""

    @property
    def key(self) -> EntryKey:
        """Identity across reports (the path id may change when a path is re-sent)."""
        return (self.kind.value, self.tor, self.prefix, self.node, self.next_hop)


class _Index:
    """Lookups built once per report."""

    def __init__(self, ipam: IpamView, tors: Sequence[TorView]) -> None:
        everyone = {**ipam.former, **ipam.nodes}
        self.by_address = {a: n.name for n in everyone.values() for a in n.addresses}
        tor_asns = {t.asn for t in tors}
        counts = Counter(n.asn for n in everyone.values() if n.asn is not None)
        self.by_asn = {
            n.asn: n.name
            for n in everyone.values()
            if n.asn is not None and counts[n.asn] == 1 and n.asn not in tor_asns
        }
        racks = {t.rack for t in tors if t.rack is not None}
        self.tors_of_rack = {r: {t.name for t in tors if t.rack == r} for r in racks}
        self.all_tors = {t.name for t in tors}

    def origin(self, path: BgpPath) -> str | None:
        origin_as = path.origin_as
        if origin_as is not None:
            by_asn = self.by_asn.get(origin_as)
            if by_asn is not None:
                return by_asn
        return self.by_address.get(path.next_hop)

    def serving(self, node: NodeRef | None) -> set[str]:
        """ToRs expected to carry ``node``'s blocks directly."""
        if node is None or node.rack is None:
            return self.all_tors
        return self.tors_of_rack.get(node.rack) or self.all_tors


def classify(ipam: IpamView, tors: Sequence[TorView]) -> list[DriftEntry]:
    """Every difference between IPAM and the ToRs, in a stable order."""
    index = _Index(ipam, tors)
    serving = {name: index.serving(node) for name, node in ipam.nodes.items()}
    expected: dict[str, list[HeldBlock]] = {t.name: [] for t in tors}
    for held in ipam.held.values():
        for tor_name in serving.get(held.node, index.all_tors):
            expected[tor_name].append(held)
    entries: list[DriftEntry] = []
    for tor in tors:
        carried: set[IPNetwork] = set()
        for path in tor.paths:
            entry = _judge(path, tor=tor, ipam=ipam, index=index, serving=serving, carried=carried)
            if entry is not None:
                entries.append(entry)
        entries.extend(_missing(tor, expected[tor.name], carried=carried))
    # One entry per identity (a ToR may send one path per session, or per path id).
    unique: dict[EntryKey, DriftEntry] = {}
    for entry in entries:
        seen = unique.get(entry.key)
        if seen is None or entry.since < seen.since:
            unique[entry.key] = entry
    return sorted(
        unique.values(),
        key=lambda e: (e.kind.value, e.tor, e.prefix.version, e.prefix, e.node or ""),
    )


def _judge(
    path: BgpPath,
    *,
    tor: TorView,
    ipam: IpamView,
    index: _Index,
    serving: Mapping[str, set[str]],
    carried: set[IPNetwork],
) -> DriftEntry | None:
    """None: the path carries a held block as IPAM says (or is transit, or out of pools).

    Adds to ``carried`` the held prefixes this ToR has a path for from their holder.
    """
    held = ipam.held.get(path.prefix)
    origin = index.origin(path)
    if held is not None and origin in (None, held.node):
        carried.add(path.prefix)
        expected = _expected_hop(ipam.nodes.get(held.node), path.next_hop)
        if expected is None or tor.name not in serving.get(held.node, index.all_tors):
            return None
        return _entry(
            DriftKind.NEXT_HOP_MISMATCH,
            path,
            node=held.node,
            since=path.first_seen,
            expected=expected,
            detail=f"next hop {path.next_hop} is not {held.node}'s address {expected}",
        )
    if held is None and not within(path.prefix, ipam.pools):
        return None
    past = ipam.released.get(path.prefix, ())
    if origin is None and held is None and past:
        origin = past[0].node
    release = next((r for r in past if r.node == origin), None)
    if release is not None:
        return _entry(
            DriftKind.STALE,
            path,
            node=origin,
            since=max(path.first_seen, release.released_at),
            detail=_stale_detail(origin, ipam),
        )
    if origin is not None and origin in ipam.former:
        return _entry(
            DriftKind.STALE,
            path,
            node=origin,
            since=path.first_seen,
            detail="announced by a deleted node",
        )
    detail = f"held by {held.node}" if held is not None else "not allocated by IPAM to any node"
    return _entry(DriftKind.ROGUE, path, node=origin, since=path.first_seen, detail=detail)


def _expected_hop(node: NodeRef | None, hop: IPAddress) -> IPAddress | None:
    """The node's address the hop should be, or None when ``hop`` is fine or uncheckable."""
    if node is None or hop in node.addresses:
        return None
    same_family = sorted(a for a in node.addresses if a.version == hop.version)
    return same_family[0] if same_family else None


def _stale_detail(node: str | None, ipam: IpamView) -> str:
    if node is not None and node not in ipam.nodes:
        return "announced by a deleted node"
    return "released block still announced"


def _missing(
    tor: TorView, expected: Sequence[HeldBlock], *, carried: set[IPNetwork]
) -> list[DriftEntry]:
    out: list[DriftEntry] = []
    for held in expected:
        covered = tor.covered.get(held.prefix.version)
        if covered is None or held.prefix in carried:
            continue
        since = max(held.claimed_at, covered, tor.gone.get(held.prefix, 0.0))
        out.append(
            DriftEntry(
                DriftKind.MISSING,
                held.prefix,
                held.node,
                tor.name,
                since,
                detail="held in IPAM, not carried by the ToR",
            )
        )
    return out


def _entry(
    kind: DriftKind,
    path: BgpPath,
    *,
    node: str | None,
    since: float,
    detail: str,
    expected: IPAddress | None = None,
) -> DriftEntry:
    return DriftEntry(
        kind,
        path.prefix,
        node,
        path.tor,
        since,
        next_hop=path.next_hop,
        expected_next_hop=expected,
        as_path=path.as_path,
        path_id=path.path_id,
        detail=detail,
    )
