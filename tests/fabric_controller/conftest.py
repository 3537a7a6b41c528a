"""Controller tests run on real PostgreSQL, with the real IPAM app beside the controller.

The session's PostgreSQL (``pg_server_url``, from ``tests/conftest.py``), one database
migrated to head (both services' tables share one Alembic history). Each test runs in one
transaction that is rolled back at the end; the controller app *and* an in-process IPAM
app (reached by the controller's :class:`IpamClient` over an ``httpx.ASGITransport``)
both work inside it, so IPAM state set up by a test is what the controller reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from fabric_controller.api.app import create_app
from fabric_controller.config import ControllerSettings
from fabric_controller.database import async_engine
from fabric_controller.ipamclient import IpamClient
from ipam_service.api.app import create_app as create_ipam_app
from ipam_service.config import IpamSettings
from tests.databases import fresh_database
from tests.fabric_controller.kube_fixtures import (
    clock,
    fake_kube,
    kube_api,
    kube_ipam_client,
    kube_ipam_database,
    kube_ipam_http,
    kube_ipam_template,
    kube_ipam_transport,
    kube_settings,
    no_leaked_tasks,
)

__all__ = [  # the Kubernetes-side fixtures, for every controller test
    "clock",
    "fake_kube",
    "kube_api",
    "kube_ipam_client",
    "kube_ipam_database",
    "kube_ipam_http",
    "kube_ipam_template",
    "kube_ipam_transport",
    "kube_settings",
    "no_leaked_tasks",
]


@pytest.fixture(scope="session")
def db_url(pg_server_url: str) -> Iterator[str]:
    """A database at schema head (both services' tables), dropped after the session."""
    with fresh_database(pg_server_url, prefix="flatnet_ctl", migrated=True) as url:
        yield url


@pytest.fixture(scope="session")
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = async_engine(db_url, pool_size=4, max_overflow=4)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_connection(db_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with db_engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


def savepoint_sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints inside the connection's open transaction."""
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
def db_sessionmaker(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The controller's sessions, inside the test's transaction."""
    return savepoint_sessions(db_connection)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    return path


@pytest.fixture
def controller_settings(secrets_dir: Path) -> ControllerSettings:
    return ControllerSettings(
        auth="off",
        database_url="unused",
        secrets_dir=secrets_dir,
        node_secrets_dir=Path("/etc/flatnet/secrets"),
    )


@pytest.fixture
async def ipam_connection(db_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """IPAM's own connection and transaction, rolled back too: the controller reaches IPAM
    only over HTTP, so the two need not share one (and may work at the same time)."""
    async with db_engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
def ipam_transport(ipam_connection: AsyncConnection) -> httpx.ASGITransport:
    """A real IPAM app working in a transaction of its own that the test rolls back."""
    app = create_ipam_app(
        IpamSettings(auth="off", database_url="unused"),
        sessionmaker=savepoint_sessions(ipam_connection),
        refresh_gauges=False,
    )
    return httpx.ASGITransport(app=app)


@pytest.fixture
async def ipam(ipam_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client of the IPAM app, for setting up pools, nodes and blocks."""
    async with httpx.AsyncClient(transport=ipam_transport, base_url="http://ipam") as client:
        yield client


@pytest.fixture
def ipam_client(ipam_transport: httpx.ASGITransport) -> IpamClient:
    """The controller's IPAM adapter on the same app (pages of 2, so paging is exercised)."""
    return IpamClient("http://ipam", transport=ipam_transport, page_limit=2)


@pytest.fixture
def controller_transport(
    controller_settings: ControllerSettings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    ipam_client: IpamClient,
) -> httpx.ASGITransport:
    """The real controller app, for clients of its own (a node agent's, say)."""
    app = create_app(controller_settings, sessionmaker=db_sessionmaker, ipam=ipam_client)
    return httpx.ASGITransport(app=app)


@pytest.fixture
async def controller(
    controller_transport: httpx.ASGITransport, ipam_client: IpamClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=controller_transport, base_url="http://controller"
    ) as client:
        yield client
    await ipam_client.aclose()
