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
from fabric_controller.kube.ports import LifecyclePorts
from fabric_controller.kube.settings import KubeSettings

log = logging.getLogger("flatnet.controller.kube")


class LifecycleRunner:
    """The leader elector and the per-term node lifecycle loop, observable for tests."""

    def __init__(
        self,
        api: KubeApi,
        *,
        settings: KubeSettings,
        ports: LifecyclePorts,
        clock: Clock,
        metrics: KubeMetrics,
        identity: str | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.ports = ports
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
            ports=self.ports,
        )
        try:
            await self.lifecycle.run()
        finally:
            self.lifecycle = None


async def run_lifecycle(
    settings: KubeSettings,
    *,
    ports: LifecyclePorts,
    pools: NamespacePools,
    stop: asyncio.Event,
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
        ports=ports,
        clock=clock,
        metrics=metrics,
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
    (racks from labels, per-node ASNs freed on release), the departure log, the metrics
    registry and the drift report from ``app.state``."""
    settings: ControllerSettings = app.state.settings
    ports = LifecyclePorts(
        nodes=IpamNodes(app.state.ipam),
        racks=app.state.topology if settings.kube.register_racks else None,
        routes=DriftRoutes(app) if settings.collector.enabled else None,
        asns=app.state.topology,
        departures=app.state.departures,
    )
    try:
        await run_lifecycle(
            settings.kube,
            ports=ports,
            pools=namespace_pools(app),
            stop=stop,
            metrics=KubeMetrics(app.state.metrics.registry),
        )
    finally:
        app.state.namespace_pools = None
