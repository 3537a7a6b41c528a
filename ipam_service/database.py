"""Database plumbing: the embedded PostgreSQL, URLs, engines, sessions and migrations."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

log = logging.getLogger("flatnet.ipam.database")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the pgserver PostgreSQL in ``data_dir``; return its libpq URI.

    The server outlives this process (cleanup_mode=None), so several service
    processes can share it; ``pg_ctl stop`` on the data directory stops it.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_server(data_dir, cleanup_mode=None)
    uri: str = server.get_uri()
    log.info("embedded postgresql ready", extra={"data_dir": str(data_dir)})
    return uri


def sqlalchemy_url(url: str, *, driver: str = "psycopg") -> str:
    """Turn a libpq URI (``postgresql://``) into a SQLAlchemy URL with the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://``) back into a libpq URI for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int, max_overflow: int) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(url: str, *, lock_id: int, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``; an advisory lock serialises concurrent replicas."""
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
        try:
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
            conn.commit()
    engine.dispose()


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` (no-op when it is not running)."""
    embedded_server(data_dir, cleanup_mode="stop").cleanup()


def embedded_server(data_dir: Path, *, cleanup_mode: str | None) -> Any:
    """The pgserver PostgreSQL of ``data_dir`` (started when it is not running);
    ``cleanup_mode`` is what its ``cleanup()`` does: None, "stop" or "delete"."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here
        warnings.simplefilter("ignore")
        # heavy import, only when the embedded default is used
        from pgserver.postgres_server import get_server

        return get_server(data_dir, cleanup_mode=cleanup_mode)
