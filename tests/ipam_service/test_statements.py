"""The production statement path: autocommit psycopg connections from ``StatementPool``."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from ipam_service.database import libpq_url
from ipam_service.schemas import BlockClaim
from ipam_service.services.audit import OwnerLookupService
from ipam_service.services.claims import BlockClaimer
from ipam_service.statements import StatementPool
from tests.databases import fresh_database


@pytest.fixture
def committed_db(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, prefix="flatnet_stmt", migrated=True) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            pool_id = conn.execute(
                "INSERT INTO pools (name, family, block_prefixlen) VALUES ('p', 4, 26) RETURNING id"
            ).fetchone()
            assert pool_id is not None
            conn.execute(
                "INSERT INTO pool_cidrs (pool_id, cidr, position) VALUES (%s, '10.3.0.0/24', 0)",
                (pool_id[0],),
            )
            conn.execute("INSERT INTO nodes (name, node_ip) VALUES ('n1', '192.0.2.1')")
        yield url


@pytest.fixture
async def statements(committed_db: str) -> AsyncIterator[StatementPool]:
    pool = StatementPool(committed_db, size=2)
    await pool.open()
    yield pool
    await pool.close()


async def test_a_claim_is_committed_by_its_own_statement(
    statements: StatementPool, committed_db: str
) -> None:
    async with statements.connection() as conn:
        block, created = await BlockClaimer(conn).claim("n1", BlockClaim(pool="p", request_id="a"))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert created
    assert block.cidr == ipaddress.ip_network("10.3.0.0/26")
    with psycopg.connect(libpq_url(committed_db)) as other:
        # the pool row is not left locked: another session can take it at once
        other.execute("SET lock_timeout = '1s'")
        other.execute("SELECT 1 FROM pools WHERE name = 'p' FOR UPDATE NOWAIT")
        held = other.execute("SELECT count(*) FROM blocks WHERE request_id = 'a'").fetchone()
    assert held == (1,)


async def test_a_failed_statement_leaves_the_pool_usable(statements: StatementPool) -> None:
    for _ in range(3):  # more attempts than connections
        with pytest.raises(psycopg.errors.UndefinedFunction):
            async with statements.connection() as conn:
                await conn.execute("SELECT no_such_function()")
    async with statements.connection() as conn:
        answer = await OwnerLookupService(conn).owner_at(
            ipaddress.ip_address("10.3.0.5"), datetime.now(UTC)
        )
    assert answer.owner is None
