"""Where the controller's data lives: the shared PostgreSQL, its engine and the migrations.

The controller runs on the same database as IPAM, and one Alembic history covers both
services. Whichever service starts first migrates to head; both take the same advisory
lock, so replicas and services that start together queue instead of racing.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from fabric_controller.config import ControllerSettings

log = logging.getLogger("flatnet.controller.database")

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "migrations"


def with_psycopg(url: str) -> str:
    """``postgresql://...`` (libpq, as pgserver gives it) -> ``postgresql+psycopg://...``."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def database_url(settings: ControllerSettings) -> str:
    """The external database when one is named, else the embedded server in ``data_dir``.

    The embedded server outlives this process, so IPAM and the controller share it.
    """
    if settings.database_url:
        return settings.database_url
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset under root
        from pgserver.postgres_server import get_server  # heavy; only for the default

        uri: str = get_server(settings.data_dir, cleanup_mode=None).get_uri()
    log.info("embedded postgresql ready", extra={"path": str(settings.data_dir)})
    return uri


def async_engine(url: str, *, pool_size: int, max_overflow: int) -> AsyncEngine:
    return _create_async_engine(with_psycopg(url), pool_size=pool_size, max_overflow=max_overflow)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def migrate(url: str, *, lock_id: int, revision: str = "head") -> None:
    """Bring the schema to ``revision`` while holding the shared advisory lock."""
    engine = create_engine(with_psycopg(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_id})
            try:
                cfg = Config()
                cfg.set_main_option("script_location", str(ALEMBIC_DIR))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_id})
                conn.commit()
    finally:
        engine.dispose()
