"""Process entry: resolve the database, migrate, and serve the API with uvicorn."""

from __future__ import annotations

import logging
import os

import uvicorn
from fastapi import FastAPI

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, make_sessionmaker, migrate, start_embedded
from ipam_service.logs import setup

log = logging.getLogger("flatnet.ipam")


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
    return create_app(settings, sessionmaker=make_sessionmaker(engine))


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
        log_config=None,
        access_log=False,
    )
