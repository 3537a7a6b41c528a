"""Process entry: resolve the database, migrate, and serve the API with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, make_sessionmaker, migrate, start_embedded
from ipam_service.logs import setup
from ipam_service.statements import StatementPool

log = logging.getLogger("flatnet.ipam")


class NoDelayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser) with Nagle's algorithm off.

    With several workers uvicorn binds the listening socket itself, without
    ``IPPROTO_TCP``, so asyncio never sets ``TCP_NODELAY`` on accepted connections
    (uvicorn issue #3149). A response goes out in two segments, headers then body, and
    the body then waits for the client's delayed ACK: about 40 ms on every keep-alive
    request.
    """

    # the same narrowed signature as uvicorn's own override
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def resolve_database_url(settings: IpamSettings) -> str:
    """``FLATNET_DATABASE_URL`` when set, else the embedded PostgreSQL in ``data_dir``."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def app_factory() -> FastAPI:
    """Uvicorn factory: each worker builds its app from the environment."""
    settings = IpamSettings()
    if not settings.database_url:
        raise RuntimeError("FLATNET_DATABASE_URL must be set for workers (serve() sets it)")
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
    )
    return create_app(
        settings,
        sessionmaker=make_sessionmaker(engine),
        statements=StatementPool(settings.database_url, size=settings.db_statement_pool_size),
    )


def serve(settings: IpamSettings) -> None:
    setup()
    url = resolve_database_url(settings)
    migrate(url, lock_id=settings.migration_lock_id)
    os.environ["FLATNET_DATABASE_URL"] = url
    log.info("serving IPAM", extra={"path": f"http://{settings.host}:{settings.port}"})
    uvicorn.run(
        "ipam_service.main:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=NoDelayHttpProtocol,
        log_config=None,
        access_log=False,
    )
