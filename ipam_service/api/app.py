"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ipam_service.api import bgp, health, ledger, nodes, pools, problems
from ipam_service.api.middleware import BodyLimitMiddleware, LatencyMiddleware
from ipam_service.auth import TokenTable
from ipam_service.config import IpamSettings
from ipam_service.metrics import Metrics
from ipam_service.models import Pool
from ipam_service.services.pools import PoolService
from ipam_service.statements import SessionStatements, Statements

log = logging.getLogger("flatnet.ipam")


async def refresh_pool_gauges(maker: async_sessionmaker[AsyncSession], metrics: Metrics) -> None:
    async with maker() as session:
        service = PoolService(session)
        for name in (await session.scalars(select(Pool.name))).all():
            usage = await service.usage(name)
            metrics.pool_blocks.labels(name, "held").set(usage.blocks_held)
            metrics.pool_blocks.labels(name, "free").set(usage.blocks_free)
            ratio = usage.blocks_held / usage.blocks_total if usage.blocks_total else 0.0
            metrics.pool_utilisation.labels(name).set(ratio)


async def _gauge_loop(app: FastAPI, period: float) -> None:
    while app.state.running:
        try:
            await refresh_pool_gauges(app.state.sessionmaker, app.state.metrics)
        except Exception:
            log.warning("pool gauge refresh failed", exc_info=True)
        await asyncio.sleep(period)


def create_app(
    settings: IpamSettings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    statements: Statements | None = None,
    refresh_gauges: bool = True,
) -> FastAPI:
    """``statements``: connections for one-statement endpoints (block claims); by default
    they come from ``sessionmaker`` (tests bind it to a rolled-back connection)."""
    stmts = statements or SessionStatements(sessionmaker)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.running = True
        await stmts.open()
        task = None
        if refresh_gauges:
            task = asyncio.create_task(_gauge_loop(app, settings.metrics_refresh_seconds))
        yield
        app.state.running = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await stmts.close()

    app = FastAPI(
        title="flatnet IPAM",
        version="1",
        lifespan=lifespan,
        description="Pools, node blocks and the IP ownership ledger.",
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    app.state.statements = stmts
    app.state.metrics = metrics
    app.state.tokens = TokenTable.load(settings.tokens_file)
    if settings.auth == "off":
        log.warning("AUTHENTICATION IS OFF (FLATNET_AUTH=off): every caller is admin")
    problems.install(app)
    for module in (pools, nodes, bgp, ledger, health):
        app.include_router(module.router)
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    return app
