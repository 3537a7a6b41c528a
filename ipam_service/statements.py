"""Connections for endpoints whose whole write is one statement (a block claim).

In production they come from :class:`StatementPool`: plain psycopg connections in
autocommit, so the statement is its own transaction and the server commits it inside the
same round trip. Row locks the statement takes (the pool row lock of a claim) are then held
only for its server-side work, never while the service process waits for its turn on the
event loop. Plain psycopg rather than an ORM session: on this path the session and its pool
cost more CPU than the claim itself (see docs/benchmarks.md).

:class:`SessionStatements` offers the same seam over an ``async_sessionmaker``: the driver
connection of a session, committed when the block ends. Tests (and apps built without a
pool) use it, so a claim joins whatever transaction the session is bound to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ipam_service.database import libpq_url

StatementConnection = psycopg.AsyncConnection[TupleRow]


class Statements(Protocol):
    def connection(self) -> contextlib.AbstractAsyncContextManager[StatementConnection]:
        """A connection for one statement; whatever it wrote is committed when the block ends."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class StatementPool:
    """A fixed-size pool of autocommit psycopg connections, opened in the app's lifespan."""

    def __init__(self, url: str, *, size: int) -> None:
        self._pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True},
            open=False,
            name="statements",
        )

    def connection(self) -> contextlib.AbstractAsyncContextManager[StatementConnection]:
        return self._pool.connection()

    async def open(self) -> None:
        await self._pool.open(wait=True)

    async def close(self) -> None:
        await self._pool.close()


class SessionStatements:
    """Statements on the driver connection of an ORM session from ``maker``."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self._maker = maker

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[StatementConnection]:
        async with self._maker() as session:
            raw = await (await session.connection()).get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, psycopg.AsyncConnection)
            yield driver
            await session.commit()

    async def open(self) -> None:
        """Nothing to open: the sessions' engine owns the connections."""

    async def close(self) -> None:
        """Nothing to close: the sessions' engine owns the connections."""
