"""Bulk ledger rows for the audit benchmark, generated inside PostgreSQL.

A pool 10.0.0.0/8 is cut into /22 blocks, one per node. Every address of those blocks has
``LEASES_PER_IP`` leases over the last year, one per time slot, each starting at a random
point in the first quarter of its slot and lasting 30-70 % of it, so one address never has
two owners at an instant. Half the addresses still hold their last lease (open upper
bound). Rows go in with ``INSERT ... SELECT generate_series``; the table's secondary
indexes and its unique, foreign-key and exclusion constraints are dropped for the load and
then re-created from their own definitions, which re-checks every row against them.

Re-creating the exclusion index dominates: GiST's insertion build over ``inet_ops`` and
``range_ops`` spends about half an hour on 10 million rows on two cores. So a generated
ledger is marked (a comment on ``leases`` with its shape and a digest of the table's
definition) and :func:`prepare` reuses it when asked to, and when the definition is still
the one the migrations create.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

from ipam_service.database import libpq_url, migrate, sqlalchemy_url

BLOCK_PREFIXLEN = 22
ADDRESSES_PER_BLOCK = 1 << (32 - BLOCK_PREFIXLEN)
LEASES_PER_IP = 10
HISTORY = timedelta(days=365)
CHUNK_BLOCKS = 64
MARK = "flatnet bench ledger: "

LEASE_ROWS = """
INSERT INTO leases (ip, pool_id, block_id, node_id, container_id, ifname, pod_namespace,
                    pod_name, pod_uid, during, open_event_id, close_event_id, close_reason)
SELECT set_masklen(b.cidr::inet, 32) + a.off, b.pool_id, b.id, b.node_id,
       'c' || b.id || '-' || a.off || '-' || k.k, 'eth0', 'ns' || (a.off %% 16),
       'pod-' || b.id || '-' || a.off || '-' || k.k, md5(b.id || '-' || a.off || '-' || k.k),
       tstzrange(s.start, CASE WHEN s.open THEN NULL ELSE s.start + s.length END, '[)'),
       gen_random_uuid(),
       CASE WHEN s.open THEN NULL ELSE gen_random_uuid() END,
       CASE WHEN s.open THEN '' ELSE 'released' END
  FROM blocks b
 CROSS JOIN generate_series(0, %(per_block)s - 1) AS a(off)
 CROSS JOIN generate_series(0, %(leases)s - 1) AS k(k)
 CROSS JOIN LATERAL (
       SELECT %(t0)s::timestamptz + k.k * %(slot)s::interval
                + random() * %(slot)s::interval / 4 AS start,
              (0.3 + random() * 0.4) * %(slot)s::interval AS length,
              k.k = %(leases)s - 1 AND a.off %% 2 = 0 AS open) AS s
 WHERE b.pool_id = %(pool)s AND b.id BETWEEN %(first)s AND %(last)s
   AND (b.id - %(first_block)s) * %(per_block)s + a.off < %(addresses)s
"""


@dataclass(frozen=True)
class Ledger:
    """What was generated: the blocks' id range and the time span of the history."""

    pool_id: int
    first_block: int
    last_block: int
    addresses: int
    start: datetime
    end: datetime


def _constraints(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(drop, create) statements for the ledger's secondary indexes and constraints."""
    found = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'leases'::regclass AND contype IN ('u', 'f', 'x')"
    ).fetchall()
    out = [
        (
            f'ALTER TABLE leases DROP CONSTRAINT "{name}"',
            f'ALTER TABLE leases ADD CONSTRAINT "{name}" {d}',
        )
        for name, d in found
    ]
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = 'leases'::regclass AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    ).fetchall()
    return out + [(f'DROP INDEX "{name}"', d) for name, d in indexes]


def _topology(conn: psycopg.Connection, *, addresses: int, start: datetime) -> Ledger:
    blocks = -(-addresses // ADDRESSES_PER_BLOCK)
    pool_id = conn.execute(
        "INSERT INTO pools (name, family, block_prefixlen) VALUES ('audit', 4, %s) RETURNING id",
        (BLOCK_PREFIXLEN,),
    ).fetchone()[0]  # type: ignore[index]
    conn.execute(
        "INSERT INTO pool_cidrs (pool_id, cidr, position) VALUES (%s, '10.0.0.0/8', 0)",
        (pool_id,),
    )
    conn.execute(
        "INSERT INTO nodes (name, node_ip, created_at)"
        " SELECT 'audit-' || n, '172.16.0.0'::inet + n, %s FROM generate_series(0, %s - 1) n",
        (start, blocks),
    )
    first, last = conn.execute(
        "WITH ins AS (INSERT INTO blocks (pool_id, node_id, cidr, request_id, claimed_at)"
        " SELECT %s, n.id, set_masklen('10.0.0.0'::inet + (n.id - m.lo) * %s, %s)::cidr,"
        " 'bench', %s FROM nodes n, (SELECT min(id) AS lo FROM nodes WHERE name LIKE 'audit-%%') m"
        " WHERE n.name LIKE 'audit-%%' ORDER BY n.id RETURNING id)"
        " SELECT min(id), max(id) FROM ins",
        (pool_id, ADDRESSES_PER_BLOCK, BLOCK_PREFIXLEN, start - timedelta(days=1)),
    ).fetchone()  # type: ignore[misc]
    return Ledger(pool_id, first, last, addresses, start, datetime.now(UTC))


def generate(url: str, *, rows: int, progress: bool = True) -> Ledger:
    """Fill ``leases`` with ``rows`` rows (a multiple of LEASES_PER_IP, rounded down)."""
    start = datetime.now(UTC) - HISTORY
    slot = HISTORY / LEASES_PER_IP
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")
        ledger = _topology(conn, addresses=rows // LEASES_PER_IP, start=start)
        ddl = _constraints(conn)
        for drop, _ in ddl:
            conn.execute(drop)
        began = time.perf_counter()
        for first in range(ledger.first_block, ledger.last_block + 1, CHUNK_BLOCKS):
            conn.execute(
                LEASE_ROWS,
                {
                    "per_block": ADDRESSES_PER_BLOCK,
                    "leases": LEASES_PER_IP,
                    "t0": start,
                    "slot": slot,
                    "pool": ledger.pool_id,
                    "first": first,
                    "last": min(first + CHUNK_BLOCKS - 1, ledger.last_block),
                    "first_block": ledger.first_block,
                    "addresses": ledger.addresses,
                },
            )
            if progress:
                done = (first - ledger.first_block + CHUNK_BLOCKS) * ADDRESSES_PER_BLOCK
                done = min(done, ledger.addresses) * LEASES_PER_IP
                print(f"  {done:,} rows, {time.perf_counter() - began:.0f} s", flush=True)
        for _, create in ddl:
            if progress:
                print(f"  {create[:90]}", flush=True)
            conn.execute(create)
        conn.execute("ANALYZE leases")
    return ledger


def _schema(conn: psycopg.Connection) -> str:
    """A digest of the ledger table's definition: columns, indexes and constraints."""
    found = conn.execute(
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'leases'::regclass AND attnum > 0 AND NOT attisdropped"
        " UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = 'leases'::regclass"
        " UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'leases'::regclass ORDER BY 1"
    ).fetchall()
    return hashlib.sha256("\n".join(str(r[0]) for r in found).encode()).hexdigest()


def _expected_schema(url: str) -> str:
    """The digest of the ledger table as the migrations create it today (a scratch database)."""
    scratch = "flatnet_bench_schema"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {scratch}")
        conn.execute(f"CREATE DATABASE {scratch}")
    scratch_url = make_url(sqlalchemy_url(url)).set(database=scratch)
    try:
        migrate(scratch_url.render_as_string(hide_password=False), lock_id=2)
        with psycopg.connect(libpq_url(scratch_url.render_as_string(hide_password=False))) as c:
            return _schema(c)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")


def _marked(conn: psycopg.Connection) -> dict[str, object] | None:
    row = conn.execute("SELECT obj_description('leases'::regclass, 'pg_class')").fetchone()
    comment = None if row is None else row[0]
    if not comment or not comment.startswith(MARK):
        return None
    found: dict[str, object] = json.loads(comment[len(MARK) :])
    return found


def prepare(url: str, *, rows: int, reuse: bool) -> Ledger:
    """A ledger of ``rows`` rows: with ``reuse``, the marked one already in the database when
    its row count and the ledger table's definition still match the migrations; else a
    fresh one (with ``reuse``, in a schema rebuilt from the migrations first)."""
    if reuse:
        expected = _expected_schema(url)
        with psycopg.connect(url, autocommit=True) as conn:
            mark = _marked(conn)
            same = mark is not None and mark.get("rows") == rows and mark.get("schema") == expected
            if mark is not None and same and _schema(conn) == expected:
                print("reusing the ledger generated on", mark["end"], flush=True)
                return Ledger(
                    pool_id=int(str(mark["pool_id"])),
                    first_block=int(str(mark["first_block"])),
                    last_block=int(str(mark["last_block"])),
                    addresses=int(str(mark["addresses"])),
                    start=datetime.fromisoformat(str(mark["start"])),
                    end=datetime.fromisoformat(str(mark["end"])),
                )
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        migrate(url, lock_id=1)
    ledger = generate(url, rows=rows)
    with psycopg.connect(url, autocommit=True) as conn:
        mark = {**asdict(ledger), "rows": rows, "schema": _schema(conn)}
        text = MARK + json.dumps(mark, default=str)
        conn.execute(psycopg.sql.SQL("COMMENT ON TABLE leases IS {}").format(text))
    return ledger
