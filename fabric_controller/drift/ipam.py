"""What the drift report reads from IPAM, and its translation into classifier inputs.

:class:`IpamReader` is the seam: the controller's ``IpamClient`` fits it (async HTTP,
IPAM's own wire models); tests may pass anything with the same three methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from fabric_controller.drift.classifier import HeldBlock, IpamView, NodeRef, ReleasedBlock
from fabric_controller.drift.rib import TorView, within
from fabric_controller.drift.settings import IPNetwork
from ipam_service.schemas import BlockRead, NodeRead, PoolRead


class IpamReader(Protocol):
    async def list_pools(self) -> list[PoolRead]:
        """Every pool (all pages)."""
        ...

    async def list_nodes(self) -> list[NodeRead]:
        """Every live node with its held blocks (all pages)."""
        ...

    async def list_blocks(self, *, state: str = "held") -> list[BlockRead]:
        """Every block in ``state`` (all pages)."""
        ...


def node_refs(nodes: Iterable[NodeRead], *, rack_label: str) -> dict[str, NodeRef]:
    return {
        n.name: NodeRef(
            n.name, frozenset({n.node_ip}), asn=n.asn, rack=n.labels.get(rack_label) or None
        )
        for n in nodes
    }


def held_blocks(nodes: Iterable[NodeRead]) -> dict[IPNetwork, HeldBlock]:
    return {
        b.cidr: HeldBlock(b.cidr, n.name, b.claimed_at.timestamp())
        for n in nodes
        for b in n.blocks
        if b.state == "held"
    }


def unexplained(
    tors: Sequence[TorView], held: Mapping[IPNetwork, HeldBlock], pools: Sequence[IPNetwork]
) -> bool:
    """Does any ToR carry a pool prefix that nobody holds? Only then is history needed."""
    return any(p.prefix not in held and within(p.prefix, pools) for t in tors for p in t.paths)


def releases(
    blocks: Iterable[BlockRead], *, wanted: set[IPNetwork]
) -> dict[IPNetwork, list[ReleasedBlock]]:
    """Past holders of the ``wanted`` prefixes, newest release first."""
    out: dict[IPNetwork, list[ReleasedBlock]] = {}
    for b in blocks:
        if b.cidr in wanted and b.released_at is not None:
            out.setdefault(b.cidr, []).append(
                ReleasedBlock(b.cidr, b.node, b.released_at.timestamp())
            )
    for rows in out.values():
        rows.sort(key=lambda r: -r.released_at)
    return out


class NodeDirectory:
    """Every node seen since the controller started, so a deleted node's address and ASN
    still say who is announcing after IPAM has forgotten them."""

    def __init__(self) -> None:
        self._seen: dict[str, NodeRef] = {}

    def view(
        self,
        *,
        pools: Sequence[IPNetwork],
        live: Mapping[str, NodeRef],
        held: Mapping[IPNetwork, HeldBlock],
        released: Mapping[IPNetwork, Sequence[ReleasedBlock]],
    ) -> IpamView:
        self._seen.update(live)
        names = {r.node for rows in released.values() for r in rows}
        former = {
            name: self._seen.get(name, NodeRef(name, frozenset()))
            for name in names | set(self._seen)
            if name not in live
        }
        return IpamView(pools=pools, nodes=live, held=held, released=released, former=former)
