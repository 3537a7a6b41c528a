"""The controller's hook: run the collector and the drift report for the life of the app.

``fabric_controller.main`` calls :func:`run_in_app` when ``settings.collector.enabled``.
It puts the :class:`~.service.DriftService` on ``app.state.drift`` (where
``GET /v1/drift`` finds it), registers the metrics on the app's registry, and stops
ExaBGP (by PID) when ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from fabric_controller.drift.collector import Collector
from fabric_controller.drift.metrics import DriftMetrics
from fabric_controller.drift.service import DriftService

log = logging.getLogger(__name__)


async def run_in_app(app: FastAPI, stop: asyncio.Event) -> None:
    settings = app.state.settings.collector
    metrics = DriftMetrics(app.state.metrics.registry)
    collector = Collector(settings, metrics=metrics)
    ipam = app.state.ipam
    service = DriftService(settings, ipam=ipam, rib=collector, metrics=metrics)
    try:
        await collector.start()
    except Exception:
        log.exception("the route collector could not start")
        await collector.stop()
        raise
    app.state.drift = service
    log.info("route collector started (%d ToRs)", len(settings.tors))
    try:
        await service.run(stop)
    finally:
        app.state.drift = None
        await collector.stop()
        log.info("route collector stopped")
