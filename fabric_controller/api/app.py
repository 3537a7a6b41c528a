"""The FastAPI application factory of the fabric controller.

``app.state`` is what other parts of the controller build on: ``settings``,
``sessionmaker``, ``ipam`` (:class:`IpamClient`), ``metrics`` (its ``registry`` takes
their collectors) and ``topology`` (the ``RackRegistry`` of the lifecycle loop).
Background work (see :mod:`fabric_controller.main`) runs for the life of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fabric_controller.api import fabrics, health, nodes, problems, racks, torconfig
from fabric_controller.api.middleware import Instrument
from fabric_controller.auth import Tokens
from fabric_controller.config import ControllerSettings
from fabric_controller.drift import endpoints as drift_endpoints
from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube import endpoints as kube_endpoints
from fabric_controller.metrics import Metrics
from fabric_controller.services.departures import DepartureLog
from fabric_controller.services.registry import TopologyRegistry

log = logging.getLogger("flatnet.controller")

Background = Callable[[FastAPI, asyncio.Event], Coroutine[Any, Any, None]]
"""Work that runs until its ``stop`` event is set (it is cancelled if it lingers)."""


async def _run_background(app: FastAPI, work: Sequence[Background], grace: float) -> None:
    stop: asyncio.Event = app.state.stop
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(fn(app, stop), name=getattr(fn, "__name__", "bg")) for fn in work
    ]
    app.state.background = tasks
    await stop.wait()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def create_app(
    settings: ControllerSettings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    ipam: IpamClient,
    background: Sequence[Background] = (),
    stop_grace_seconds: float = 10.0,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.stop = asyncio.Event()
        runner = asyncio.create_task(_run_background(app, background, stop_grace_seconds))
        try:
            yield
        finally:
            app.state.stop.set()
            await runner
            await ipam.aclose()

    app = FastAPI(
        title="flatnet fabric controller",
        version="1",
        lifespan=lifespan,
        description="Racks, ToRs, ASNs and BGP policy; node peering; generated ToR config.",
    )
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.state.ipam = ipam
    app.state.metrics = Metrics()
    app.state.tokens = Tokens.from_file(settings.tokens_file)
    app.state.topology = TopologyRegistry(sessionmaker, settings)
    app.state.departures = DepartureLog(sessionmaker)
    if settings.auth == "off":
        log.warning("AUTHENTICATION IS OFF: every caller is admin")
    problems.install(app)
    for module in (fabrics, racks, nodes, torconfig, health):
        app.include_router(module.router)
    app.include_router(drift_endpoints.router)  # GET /v1/drift (route drift)
    app.include_router(kube_endpoints.router)  # namespace pools (Kubernetes side)
    app.add_middleware(Instrument, metrics=app.state.metrics, body_limit=settings.max_body_bytes)
    return app
