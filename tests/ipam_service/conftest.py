"""IPAM tests run on real PostgreSQL: a throwaway embedded server unless
``FLATNET_TEST_DATABASE_URL`` names one. Migrations run once per session into a
fresh database; every test runs in a transaction that is rolled back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from ipam_service.api.app import create_app
from ipam_service.config import IpamSettings
from ipam_service.database import make_engine
from tests.databases import fresh_database

TOKENS = {"t-admin": "admin", "t-audit": "auditor", "t-n1": "node:node1", "t-n2": "node:node2"}
"""The bearer tokens of the ``authed`` client (send them with ``factories.bearer``)."""


@pytest.fixture(scope="session")
def server_url(pg_server_url: str) -> str:
    return pg_server_url


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


def app_client(
    settings: IpamSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> httpx.AsyncClient:
    """A client of the real app, in process, on the test's rolled-back connection."""
    app = create_app(settings, sessionmaker=sessionmaker, refresh_gauges=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ipam")


@pytest.fixture
async def client(
    settings: IpamSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, sessionmaker) as c:
        yield c


@pytest.fixture
async def authed(
    tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, with token checks on and the roles of ``TOKENS``."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    settings = IpamSettings(auth="on", tokens_file=tokens, database_url="unused")
    async with app_client(settings, sessionmaker) as c:
        yield c
