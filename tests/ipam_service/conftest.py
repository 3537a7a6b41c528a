"""IPAM tests run on real PostgreSQL: a throwaway embedded server unless
``FLATNET_TEST_DATABASE_URL`` names one. Migrations run once per session into a
fresh database; every test runs in a transaction that is rolled back."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine, migrate, sqlalchemy_url


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    external = os.environ.get("FLATNET_TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pgserver

    root = Path(tempfile.mkdtemp(prefix="flatnet-pg-"))
    root.chmod(0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database with the schema at head; dropped at the end."""
    name = f"flatnet_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(sqlalchemy_url(server_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    migrate(rendered, lock_id=42)
    yield rendered
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
async def engine(database_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(database_url, pool_size=4, max_overflow=4)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine) -> AsyncIterator[AsyncConnection]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
def settings() -> IpamSettings:
    return IpamSettings(auth="off", database_url="unused")


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def client(
    settings: IpamSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, sessionmaker=sessionmaker, refresh_gauges=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ipam") as c:
        yield c
