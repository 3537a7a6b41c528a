"""Block claims through the API at 32 concurrent clients, against the bare SQL transaction.

Both run in the same process run on the same embedded PostgreSQL, each in its own
pool of the same shape. The bare path issues the same statements as the service
(lock the pool row, look up the request id, read a page of held blocks from the
search hint, insert, move the hint, commit) straight through psycopg.

    python bench/ipam_claims.py [--claims 4000] [--clients 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import time
import uuid

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.harness import postgres, service, summary, table
from ipam_service import allocator

BLOCK = 26


async def api_run(base: str, *, claims: int, clients: int) -> tuple[list[float], float]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
        await c.post(
            "/v1/pools", json={"name": "api", "cidrs": ["10.0.0.0/9"], "block_prefixlen": BLOCK}
        )
        for n in range(clients):
            await c.put(f"/v1/nodes/n{n}", json={"node_ip": f"192.0.2.{n + 1}"})
        samples: list[float] = []

        async def worker(n: int) -> None:
            for _ in range(claims // clients):
                t = time.perf_counter()
                r = await c.post(
                    f"/v1/nodes/n{n}/blocks", json={"pool": "api", "request_id": uuid.uuid4().hex}
                )
                samples.append(time.perf_counter() - t)
                assert r.status_code == 201, r.text

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        return samples, time.perf_counter() - start


async def bare_claim(conn: psycopg.AsyncConnection, pool_id: int, node_id: int) -> None:
    size = 1 << (32 - BLOCK)
    async with conn.transaction():
        await conn.execute("SELECT id FROM pools WHERE id = %s FOR UPDATE", (pool_id,))
        rid = uuid.uuid4().hex
        await conn.execute(
            "SELECT id FROM blocks WHERE node_id = %s AND request_id = %s", (node_id, rid)
        )
        row = await (
            await conn.execute(
                "SELECT id, cidr, next_hint FROM pool_cidrs WHERE pool_id = %s", (pool_id,)
            )
        ).fetchone()
        assert row is not None
        cidr_id, cidr, hint = row
        lo, hi = allocator.bounds(cidr)
        start = lo if hint is None else int(hint)
        first = str(allocator.to_network(start, family=4, prefixlen=BLOCK))
        last = str(allocator.to_network(hi - size + 1, family=4, prefixlen=BLOCK))
        held = [
            r[0]
            for r in await (
                await conn.execute(
                    "SELECT cidr FROM blocks WHERE pool_id = %s AND released_at IS NULL"
                    " AND cidr >= %s::cidr AND cidr <= %s::cidr ORDER BY cidr LIMIT 256",
                    (pool_id, first, last),
                )
            ).fetchall()
        ]
        found = allocator.scan(
            span=(lo, hi),
            size=size,
            start=start,
            occupied=[allocator.bounds(h) for h in held],
            horizon=None,
        ).found
        assert found is not None
        await conn.execute(
            "INSERT INTO blocks (pool_id, node_id, cidr, request_id) VALUES (%s, %s, %s, %s)",
            (pool_id, node_id, str(allocator.to_network(found, family=4, prefixlen=BLOCK)), rid),
        )
        await conn.execute(
            "UPDATE pool_cidrs SET next_hint = %s WHERE id = %s",
            (str(ipaddress.IPv4Address(found)), cidr_id),
        )


async def bare_run(url: str, *, claims: int, clients: int) -> tuple[list[float], float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        pool_id = (
            await (
                await conn.execute(
                    "INSERT INTO pools (name, family, block_prefixlen)"
                    " VALUES ('bare', 4, %s) RETURNING id",
                    (BLOCK,),
                )
            ).fetchone()
        )[0]  # type: ignore[index]
        await conn.execute(
            "INSERT INTO pool_cidrs (pool_id, cidr, position) VALUES (%s, '10.128.0.0/9', 0)",
            (pool_id,),
        )
        node_id = (
            await (
                await conn.execute(
                    "INSERT INTO nodes (name, node_ip) VALUES ('bare', '198.51.100.1') RETURNING id"
                )
            ).fetchone()
        )[0]  # type: ignore[index]
    samples: list[float] = []
    async with AsyncConnectionPool(
        url, min_size=clients, max_size=clients, kwargs={"autocommit": True}
    ) as pool:

        async def worker() -> None:
            for _ in range(claims // clients):
                t = time.perf_counter()
                async with pool.connection() as conn:
                    await bare_claim(conn, pool_id, node_id)
                samples.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return samples, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with postgres() as url, service(url, workers=args.workers) as base:
        api, api_t = asyncio.run(api_run(base, claims=args.claims, clients=args.clients))
        bare, bare_t = asyncio.run(bare_run(url, claims=args.claims, clients=args.clients))
    rows = [summary(f"API ({args.workers} workers)", api, api_t), summary("bare SQL", bare, bare_t)]
    print(table(rows))
    ratio = rows[0]["rate_per_s"] / rows[1]["rate_per_s"]  # type: ignore[operator]
    print(f"\nAPI/bare throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
