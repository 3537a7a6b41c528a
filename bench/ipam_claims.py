"""Block claims through the API at 32 concurrent clients, against the bare SQL that does the
same work, in the same run.

The API path is ``POST /v1/nodes/{n}/blocks`` through uvicorn. The bare path sends the
service's own statement (``repositories.claims.CLAIM``: ``ipam_claim_block(node, pool,
request_id)``, that is lookups, request-id replay, pool lock, topology-aware search, insert,
hint, commit) straight through psycopg on one autocommit connection per client. Each path
claims in its own pool of the same shape (a /9 cut into /26 blocks); each client is its own
node. The two paths alternate for ``--rounds`` rounds, so drifting background load hits both.

Closed loop by default: a client sends its next claim when the last one answers. With
``--rate R`` the claims are due at R per second spread over the clients (open loop), and
latency counts from the due time, so a slow answer cannot hide the queue behind it.

    python -m bench.ipam_claims [--claims 4000] [--clients 32] [--workers 2] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import psycopg

from bench.harness import LeanHttp, load_average, postgres, service, summary, table
from ipam_service.repositories.claims import CLAIM

Claim = Callable[[int, str], Awaitable[None]]
POOLS = {"api": "10.0.0.0/9", "bare": "10.128.0.0/9"}
BLOCK = 26


async def setup(base: str, *, clients: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for pool, cidr in POOLS.items():
            body = {"name": pool, "cidrs": [cidr], "block_prefixlen": BLOCK}
            r = await c.post("/v1/pools", json=body)
            assert r.status_code == 201, r.text
            for n in range(clients):
                ip = f"198.51.{100 + (pool == 'bare')}.{n + 1}"
                r = await c.put(f"/v1/nodes/{pool}-{n}", json={"node_ip": ip})
                assert r.status_code == 201, r.text


async def drive(
    claim: Claim, *, claims: int, clients: int, rate: float
) -> tuple[list[float], float]:
    """Run ``claims`` claims over ``clients`` concurrent clients; (latencies, elapsed)."""
    samples: list[float] = []
    start = time.perf_counter()

    async def client(i: int) -> None:
        for k in range(claims // clients):
            if rate:
                began = start + (k * clients + i) / rate
                await asyncio.sleep(max(0.0, began - time.perf_counter()))
            else:
                began = time.perf_counter()
            await claim(i, uuid.uuid4().hex)
            samples.append(time.perf_counter() - began)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, time.perf_counter() - start


async def api_path(base: str, *, clients: int, stack: contextlib.AsyncExitStack) -> Claim:
    conns = [await stack.enter_async_context(LeanHttp(base)) for _ in range(clients)]

    async def claim(i: int, request_id: str) -> None:
        body = {"pool": "api", "request_id": request_id}
        status, answer = await conns[i].request("POST", f"/v1/nodes/api-{i}/blocks", body)
        assert status == 201, answer

    return claim


async def bare_path(url: str, *, clients: int, stack: contextlib.AsyncExitStack) -> Claim:
    conns = [
        await stack.enter_async_context(await psycopg.AsyncConnection.connect(url, autocommit=True))
        for _ in range(clients)
    ]

    async def claim(i: int, request_id: str) -> None:
        cur = await conns[i].execute(CLAIM, (f"bare-{i}", "bare", request_id))
        row = await cur.fetchone()
        assert row is not None
        assert row[0] == "created", row

    return claim


async def check(url: str) -> dict[str, int]:
    """Held blocks per pool, after asserting that no two held blocks overlap."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM blocks x JOIN blocks y ON x.id < y.id AND x.cidr && y.cidr"
            " WHERE x.released_at IS NULL AND y.released_at IS NULL"
        )
        assert await cur.fetchone() == (0,), "overlapping held blocks"
        cur = await conn.execute(
            "SELECT p.name, count(*) FROM blocks b JOIN pools p ON p.id = b.pool_id"
            " WHERE b.released_at IS NULL GROUP BY p.name"
        )
        return {str(name): int(n) for name, n in await cur.fetchall()}


async def run(args: argparse.Namespace, *, base: str, url: str) -> list[dict[str, float | str]]:
    await setup(base, clients=args.clients)
    name = f"API ({args.workers} workers)"
    paths = {name: functools.partial(api_path, base), "bare SQL": functools.partial(bare_path, url)}
    rows: list[dict[str, float | str]] = []
    ratios: list[float] = []
    for rnd in range(args.rounds + 1):
        print(f"round {rnd or 'warm-up'}: load average {load_average()}", flush=True)
        pair = []
        for label, path in paths.items():
            # fresh connections each round: uvicorn closes keep-alive connections idle for 5 s
            async with contextlib.AsyncExitStack() as stack:
                claim = await path(clients=args.clients, stack=stack)
                claims = args.claims if rnd else args.warmup
                samples, elapsed = await drive(
                    claim, claims=claims, clients=args.clients, rate=args.rate if rnd else 0
                )
            pair.append(summary(f"{label}, round {rnd}", samples, elapsed))
        if rnd:
            ratios.append(float(pair[0]["rate_per_s"]) / float(pair[1]["rate_per_s"]))
            rows += pair
    print(f"held blocks per pool: {await check(url)}")
    print(f"API/bare throughput ratio per round: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"median ratio: {statistics.median(ratios):.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=4000, help="claims per path and round")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=2, help="alternating API/bare rounds")
    parser.add_argument("--warmup", type=int, default=320, help="unmeasured claims per path")
    parser.add_argument(
        "--rate", type=float, default=0, help="open loop: claims due per second (0: closed loop)"
    )
    args = parser.parse_args()
    mode = f"open loop at {args.rate:g}/s" if args.rate else "closed loop"
    print(f"{args.clients} clients, {mode}, load average {load_average()}", flush=True)
    with postgres() as url, service(url, workers=args.workers) as base:
        rows = asyncio.run(run(args, base=base, url=url))
    print(table(rows))


if __name__ == "__main__":
    main()
