"""Entry of the Kubernetes side: what ``main`` starts when ``settings.kube.enabled``.

Every replica watches namespaces (for ``GET /v1/namespaces/{ns}/pool``) and campaigns for the
leader Lease; only the leader runs the node lifecycle loop.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from fabric_controller.config import ControllerSettings
from fabric_controller.kube.client import HttpKubeApi, KubeApi
from fabric_controller.kube.clock import Clock, SystemClock
from fabric_controller.kube.credentials import connect
from fabric_controller.kube.driftroutes import DriftRoutes
from fabric_controller.kube.ipamnodes import IpamNodes
from fabric_controller.kube.leader import LeaderElector
from fabric_controller.kube.lifecycle import NodeLifecycle
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.namespaces import NamespacePools, watch_namespaces
from fabric_controller.kube.ports import (
    AsnRegistry,
    DepartureLog,
    NodeRegistry,
    RackRegistry,
    RouteReport,
)
from fabric_controller.kube.settings import KubeSettings

log = logging.getLogger("flatnet.controller.kube")


class LifecycleRunner:
    """The leader elector and the per-term node lifecycle loop, observable for tests."""

    def __init__(
        self,
        api: KubeApi,
        *,
        settings: KubeSettings,
        nodes: NodeRegistry,
        clock: Clock,
        metrics: KubeMetrics,
        racks: RackRegistry | None = None,
        routes: RouteReport | None = None,
        asns: AsnRegistry | None = None,
        departures: DepartureLog | None = None,
        identity: str | None = None,
    ) -> None:
        self.api = api
        self.departures = departures
        self.settings = settings
        self.nodes = nodes
        self.racks = racks
        self.routes = routes
        self.asns = asns
        self.clock = clock
        self.metrics = metrics
        self.elector = LeaderElector(
            api, settings=settings, clock=clock, metrics=metrics, identity=identity
        )
        self.lifecycle: NodeLifecycle | None = None
        """The loop of the current leader term (None while following)."""

    async def run(self, stop: asyncio.Event) -> None:
        await self.elector.run(self._term, stop)

    async def _term(self) -> None:
        self.lifecycle = NodeLifecycle(
            self.api,
            settings=self.settings,
            clock=self.clock,
            metrics=self.metrics,
            nodes=self.nodes,
            racks=self.racks,
            routes=self.routes,
            asns=self.asns,
            departures=self.departures,
        )
        try:
            await self.lifecycle.run()
        finally:
            self.lifecycle = None


async def run_lifecycle(
    settings: KubeSettings,
    *,
    nodes: NodeRegistry,
    pools: NamespacePools,
    stop: asyncio.Event,
    racks: RackRegistry | None = None,
    routes: RouteReport | None = None,
    asns: AsnRegistry | None = None,
    departures: DepartureLog | None = None,
    api: KubeApi | None = None,
    clock: Clock | None = None,
    metrics: KubeMetrics | None = None,
    identity: str | None = None,
) -> None:
    """Run the namespace watch and the leader-elected node lifecycle loop until ``stop``.

    ``api`` defaults to a client built from ``settings`` (in-cluster when ``api_url`` is
    empty) and closed on return. On ``stop`` the leader releases its Lease.
    """
    clock = clock or SystemClock()
    metrics = metrics or KubeMetrics()
    own: HttpKubeApi | None = None
    if api is None:
        own = api = connect(settings)
    runner = LifecycleRunner(
        api,
        settings=settings,
        nodes=nodes,
        clock=clock,
        metrics=metrics,
        racks=racks,
        routes=routes,
        asns=asns,
        departures=departures,
        identity=identity,
    )
    log.info("kubernetes loops starting", extra={"identity": runner.elector.identity})
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(runner.run(stop))
            if settings.watch_namespaces:
                group.create_task(
                    watch_namespaces(api, pools, settings=settings, clock=clock, stop=stop)
                )
    finally:
        if own is not None:
            await own.aclose()


def namespace_pools(app: FastAPI) -> NamespacePools:
    """The app's namespace pool map (what ``GET /v1/namespaces/{ns}/pool`` serves)."""
    pools: NamespacePools | None = getattr(app.state, "namespace_pools", None)
    if pools is None:
        settings: ControllerSettings = app.state.settings
        pools = app.state.namespace_pools = NamespacePools(annotation=settings.kube.pool_annotation)
    return pools


async def run_in_app(app: FastAPI, stop: asyncio.Event) -> None:
    """``main``'s hook when ``settings.kube.enabled``: takes IPAM, the topology registry
    (racks from labels, per-node ASNs freed on release), the metrics registry and the drift
    report from ``app.state``."""
    settings: ControllerSettings = app.state.settings
    routes = DriftRoutes(app) if settings.collector.enabled else None
    try:
        await run_lifecycle(
            settings.kube,
            nodes=IpamNodes(app.state.ipam),
            pools=namespace_pools(app),
            stop=stop,
            racks=app.state.topology if settings.kube.register_racks else None,
            routes=routes,
            asns=app.state.topology,
            departures=app.state.departures,
            metrics=KubeMetrics(app.state.metrics.registry),
        )
    finally:
        app.state.namespace_pools = None
