"""IPAM tests run on real PostgreSQL: a throwaway embedded server unless
``FLATNET_TEST_DATABASE_URL`` names one. Migrations run once per session into a
fresh database; every test runs in a transaction that is rolled back."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine
from tests.ipam_service.databases import fresh_database


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
    with fresh_database(server_url, prefix="flatnet_test", migrated=True) as url:
        yield url


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
