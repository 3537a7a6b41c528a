"""What the node lifecycle loop needs from the rest of the controller, as small interfaces.

``NodeRegistry`` is IPAM (``kube.ipamnodes.IpamNodes`` adapts the controller's IPAM client);
``RackRegistry`` and ``AsnRegistry`` are the controller's topology service
(``services.registry.TopologyRegistry``); ``DepartureLog`` is its ``node_departures`` table
(``services.departures.DepartureLog``); ``RouteReport`` is the drift report.
Every method is idempotent: the loop may call it again after any failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fabric_controller.kube.objects import NodeInfo


class NodeRegistry(Protocol):
    async def register(self, node: NodeInfo) -> bool:
        """Create or update the node (IP and labels) in IPAM, reviving a deleted one; keep what
        Kubernetes does not own (the ASN). True when IPAM changed."""
        ...

    async def release(self, name: str, *, reason: str) -> list[str] | None:
        """Release every block of the node and close its ledger entries, recording ``reason``;
        the released CIDRs, or None when IPAM has no such (live) node."""
        ...

    async def names(self) -> list[str]:
        """Every live node IPAM knows."""
        ...


class RackRegistry(Protocol):
    async def ensure_rack(self, name: str) -> None:
        """Make sure the rack exists (created bare when new; never changed when it exists)."""
        ...


class AsnRegistry(Protocol):
    async def release_asn(self, name: str) -> bool:
        """Free the node's per-node ASN for reuse; True when it held one, False when not
        (already freed, or its fabric gives one ASN per rack)."""
        ...


class RouteReport(Protocol):
    async def routes_of(self, node: str) -> Sequence[str]:
        """What the fabric still carries for ``node`` according to the drift report (one text
        per offending route, e.g. ``"10.244.1.0/26 on tor1 (stale)"``); empty when clean."""
        ...


class DepartureLog(Protocol):
    async def gone_since(self, name: str, now: datetime) -> datetime:
        """Record ``now`` as the moment the node left unless a moment is recorded already;
        return the recorded one (the grace period runs from it)."""
        ...

    async def forget(self, name: str) -> None:
        """The node is back, or released: drop its recorded departure."""
        ...


@dataclass(frozen=True)
class LifecyclePorts:
    """Everything the lifecycle loop talks to besides Kubernetes; only IPAM is required.
    Without ``racks`` no rack is created, without ``routes`` the route check is skipped,
    without ``asns`` no ASN is freed, without ``departures`` a grace period lives in memory."""

    nodes: NodeRegistry
    racks: RackRegistry | None = None
    routes: RouteReport | None = None
    asns: AsnRegistry | None = None
    departures: DepartureLog | None = None
