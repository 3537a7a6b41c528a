"""The node lifecycle reconciler: Kubernetes Nodes -> IPAM nodes (and racks), and the release
of a node's blocks once its Node object has been gone for the grace period.

Each node name moves through these phases (one worker per name, so never two at once):

==========  ===============================  ==============================================
phase       on a Node that exists            on a Node that is gone (DELETED)
==========  ===============================  ==============================================
(none)      register -> PRESENT              start the grace period -> GONE
PRESENT     register again (idempotent)      start the grace period -> GONE
GONE        release cancelled -> PRESENT     grace over? release in IPAM -> RELEASED
RELEASED    register again -> PRESENT        free its ASN (once); drift report clean? -> CLEAN,
                                             else check again
CLEAN       register again -> PRESENT        nothing (done)
LINGERING   register again -> PRESENT        nothing: routes still announced after every check
==========  ===============================  ==============================================

A released node's per-node ASN is freed too (after IPAM's release, also when IPAM had no
such node any more, e.g. a previous leader released it and stopped before the ASN), so the
fabric's ASN range does not run dry as nodes come and go.

A grace period runs from the moment a leader first saw the node gone. With a ``DepartureLog``
(the controller's ``node_departures`` table) that moment outlives the leader: the next
leader continues the grace period instead of starting it again, and a node that is back or
released is forgotten. Without one it is this replica's memory. IPAM nodes without any Node
object (deleted while no controller watched) are found by a periodic sweep and handled as
DELETED.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field

from fabric_controller.kube.client import KubeApi
from fabric_controller.kube.clock import Clock, wait_event
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import NODES, EventType, NodeInfo, WatchEvent
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.queueing import KeyedQueue
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.tasks import run_until
from fabric_controller.kube.watching import Watcher

log = logging.getLogger("flatnet.controller.kube")


class Phase(enum.StrEnum):
    PRESENT = "present"
    GONE = "gone"
    RELEASED = "released"
    CLEAN = "clean"
    LINGERING = "lingering"


@dataclass
class NodeState:
    phase: Phase
    since: float
    """Monotonic time the node entered this phase."""
    checks: int = 0
    released: list[str] = field(default_factory=list)
    asn_freed: bool = False


class NodeLifecycle:
    """One leader term of the loop: a Node watcher feeding a per-name queue, and the sweep."""

    def __init__(
        self,
        api: KubeApi,
        *,
        settings: KubeSettings,
        clock: Clock,
        metrics: KubeMetrics,
        ports: LifecyclePorts,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.ports = ports
        self.states: dict[str, NodeState] = {}
        self.orphans: set[str] = set()
        """IPAM nodes the sweep found without any Node object."""
        self.queue = KeyedQueue(
            self.reconcile, name="nodes", settings=settings, clock=clock, metrics=metrics
        )
        self.watcher = Watcher(api, NODES, settings=settings, clock=clock, deliver=self._deliver)

    def _deliver(self, event: WatchEvent) -> None:
        self.metrics.watch_events.labels("nodes", event.type.value).inc()
        self.queue.submit(event)

    async def run(self) -> None:
        """Run until cancelled (when leadership is lost or the controller stops)."""
        forever = asyncio.Event()
        try:
            await run_until(forever, self.watcher.run(forever), self._sweeper(forever))
        finally:
            await self.queue.close()
            self.metrics.pending_releases.set(0)

    def phase_of(self, name: str) -> Phase | None:
        state = self.states.get(name)
        return None if state is None else state.phase

    async def reconcile(self, name: str, event: WatchEvent) -> float | None:
        if event.type is EventType.DELETED:
            return await self._gone(name)
        await self._present(name, NodeInfo.from_object(event.object))
        return None

    async def _present(self, name: str, node: NodeInfo) -> None:
        self.orphans.discard(name)
        state = self.states.get(name)
        if state is not None and state.phase is Phase.GONE:
            log.info(
                "node is back before its grace period ended: release cancelled",
                extra={"node": name},
            )
            self.metrics.releases_cancelled.inc()
            del self.states[name]
            self._count_pending()
        if self.ports.departures is not None and (
            state is None or state.phase is not Phase.PRESENT
        ):
            await self.ports.departures.forget(name)  # back, or first seen by this leader
        if node.node_ip is None:
            log.info("node has no InternalIP yet; registering it later", extra={"node": name})
            return
        rack = node.labels.get(self.settings.rack_label)
        if rack and self.ports.racks is not None and self.settings.register_racks:
            await self.ports.racks.ensure_rack(rack)
        if await self.ports.nodes.register(node):
            log.info("node registered in IPAM", extra={"node": name, "rack": rack})
        self.states[name] = NodeState(Phase.PRESENT, since=self.clock.monotonic())

    async def _gone(self, name: str) -> float | None:
        now = self.clock.monotonic()
        state = self.states.get(name)
        if state is None or state.phase is Phase.PRESENT:
            since = await self._departed(name, now)
            state = self.states[name] = NodeState(Phase.GONE, since=since)
            self._count_pending()
            log.info(
                "node is gone; releasing its blocks in %gs unless it returns",
                max(0.0, self.settings.grace_period - (now - since)),
                extra={"node": name},
            )
        if state.phase is Phase.GONE:
            remaining = self.settings.grace_period - (now - state.since)
            if remaining > 0:
                return remaining
            released = await self.ports.nodes.release(name, reason=self._reason(name))
            if self.ports.departures is not None:
                await self.ports.departures.forget(name)
            self.orphans.discard(name)
            if released is None:  # IPAM never had it (or released it already)
                await self._free_asn(name)
                self.states[name] = NodeState(Phase.CLEAN, since=now)
                self._count_pending()
                log.info("node gone; IPAM has no such node", extra={"node": name})
                return None
            state = self.states[name] = NodeState(Phase.RELEASED, since=now, released=released)
            self._count_pending()
            self.metrics.nodes_released.inc()
            log.info(
                "released the node's blocks in IPAM: %s",
                ", ".join(released) or "none",
                extra={"node": name},
            )
        if state.phase is Phase.RELEASED:
            if not state.asn_freed:
                await self._free_asn(name)  # a failure is retried, still RELEASED
                state.asn_freed = True
            return await self._check_routes(name, state)
        return None

    async def _departed(self, name: str, now: float) -> float:
        """The grace period's start on the monotonic clock: now, or the recorded departure."""
        if self.ports.departures is None:
            return now
        wall = self.clock.now()
        recorded = await self.ports.departures.gone_since(name, wall)
        return now - max(0.0, (wall - recorded).total_seconds())

    async def _free_asn(self, name: str) -> None:
        if self.ports.asns is not None and await self.ports.asns.release_asn(name):
            log.info("freed the node's per-node ASN", extra={"node": name})

    def _reason(self, name: str) -> str:
        grace = f"{self.settings.grace_period:g}s"
        if name in self.orphans:
            return f"no kubernetes Node object for {grace} (fabric controller)"
        return f"kubernetes Node deleted and gone for {grace} (fabric controller)"

    async def _check_routes(self, name: str, state: NodeState) -> float | None:
        if self.ports.routes is None:
            log.info("no drift report available: route check skipped", extra={"node": name})
            state.phase = Phase.CLEAN
            return None
        routes = list(await self.ports.routes.routes_of(name))
        state.checks += 1
        if not routes:
            state.phase = Phase.CLEAN
            self.metrics.lingering_routes.labels(name).set(0)
            log.info("drift report shows no route of the released node", extra={"node": name})
            return None
        if state.checks >= self.settings.route_check_attempts:
            state.phase = Phase.LINGERING
            self.metrics.lingering_routes.labels(name).set(len(routes))
            log.error(
                "routes of the released node are still announced: %s",
                "; ".join(routes),
                extra={"node": name},
            )
            return None
        return self.settings.route_check_interval

    def _count_pending(self) -> None:
        pending = sum(1 for s in self.states.values() if s.phase is Phase.GONE)
        self.metrics.pending_releases.set(pending)

    async def _sweeper(self, stop: asyncio.Event) -> None:
        if not self.settings.release_orphans:
            await stop.wait()
            return
        await self.watcher.synced.wait()
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # IPAM down: the next sweep tries again
                log.warning("orphan sweep failed: %s", exc)
            await wait_event(self.clock, stop, self.settings.resync_period)

    async def sweep(self) -> None:
        """Hand every IPAM node that has no Node object to the queue as DELETED.

        IPAM's list is as old as the request that fetched it: a node whose phase changed
        while the list was on its way (released meanwhile, say, so still listed) is left
        to the next sweep, neither handed over again nor forgotten on that list's word.
        """
        began = self.clock.monotonic()
        registered = set(await self.ports.nodes.names())
        for name in sorted(registered - set(self.watcher.cache)):
            state = self.states.get(name)
            if state is not None and state.since >= began:
                continue
            if state is not None and state.phase in (Phase.CLEAN, Phase.LINGERING):
                del self.states[name]  # registered again since: a new grace period
            if state is None or state.phase is not Phase.GONE:
                self.orphans.add(name)
            self.queue.submit(WatchEvent(EventType.DELETED, {"metadata": {"name": name}}))
        for name, state in list(self.states.items()):
            if state.phase is Phase.CLEAN and name not in registered and state.since < began:
                del self.states[name]
