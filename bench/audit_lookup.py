"""Point-in-time owner lookups with 10 million ledger rows: the API against the bare query.

The benchmark generates the ledger (``bench.ledgerdata``: ``INSERT ... SELECT
generate_series`` inside PostgreSQL, every constraint re-checked afterwards), then asks who
owned a random address at a random instant of the last year, about half of them answered
by a lease. The API path is ``GET /v1/audit/ips/{ip}?at=<RFC 3339>`` through uvicorn; the
bare path sends the service's own statement (``repositories.audit.OWNER_AT_SQL``, compiled
by SQLAlchemy for psycopg) straight through psycopg. Both read the same rows in the same run,
alternating for ``--rounds`` rounds, at each client count of ``--clients``; the first
answers of each round are compared between the two paths.

    python -m bench.audit_lookup [--rows 10000000] [--lookups 3000] [--clients 1,4]
                                 [--data-dir /var/tmp/flatnet-bench-ledger]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import ledgerdata
from bench.harness import LeanHttp, load_average, postgres, service, summary, table
from ipam_service.repositories.audit import OWNER_AT_SQL

Lookup = tuple[str, datetime]
Ask = Callable[[int, Lookup], Awaitable[str | None]]
COMPARED = 200


def lookups(ledger: ledgerdata.Ledger, *, count: int, seed: int) -> list[Lookup]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        offset = rng.randrange(ledger.addresses)
        ip = f"10.{offset >> 16}.{(offset >> 8) & 255}.{offset & 255}"
        out.append((ip, ledger.start + (ledger.end - ledger.start) * rng.random()))
    return out


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def api_path(base: str, *, clients: int, stack: contextlib.AsyncExitStack) -> Ask:
    conns = [await stack.enter_async_context(LeanHttp(base)) for _ in range(clients)]

    async def ask(i: int, lookup: Lookup) -> str | None:
        status, body = await conns[i].request(
            "GET", f"/v1/audit/ips/{lookup[0]}?at={rfc3339(lookup[1])}"
        )
        assert status == 200, body
        owner: dict[str, Any] | None = json.loads(body)["owner"]
        return None if owner is None else str(owner["container_id"])

    return ask


async def bare_path(url: str, *, clients: int, stack: contextlib.AsyncExitStack) -> Ask:
    conns = [
        await stack.enter_async_context(await psycopg.AsyncConnection.connect(url, autocommit=True))
        for _ in range(clients)
    ]

    async def ask(i: int, lookup: Lookup) -> str | None:
        cur = await conns[i].execute(OWNER_AT_SQL, {"ip": lookup[0], "at": lookup[1]})
        row = await cur.fetchone()
        return None if row is None else str(row[6])

    return ask


async def drive(
    ask: Ask, work: list[Lookup], *, clients: int
) -> tuple[list[float], float, list[str | None]]:
    """Spread ``work`` over ``clients`` closed-loop clients; (latencies, elapsed, answers)."""
    samples: list[float] = []
    answers: list[str | None] = [None] * len(work)
    start = time.perf_counter()

    async def client(i: int) -> None:
        for k in range(i, len(work), clients):
            began = time.perf_counter()
            answers[k] = await ask(i, work[k])
            samples.append(time.perf_counter() - began)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, time.perf_counter() - start, answers


async def measure(
    args: argparse.Namespace, ledger: ledgerdata.Ledger, *, base: str, url: str
) -> list[dict[str, float | str]]:
    paths = {f"API ({args.workers} workers)": (api_path, base), "bare SQL": (bare_path, url)}
    rows: list[dict[str, float | str]] = []
    for clients in args.clients:
        ratios = []
        for rnd in range(1, args.rounds + 1):
            work = lookups(ledger, count=args.lookups, seed=clients * 1000 + rnd)
            print(f"{clients} clients, round {rnd}: load average {load_average()}", flush=True)
            pair, answers = [], []
            for label, (path, target) in paths.items():
                async with contextlib.AsyncExitStack() as stack:
                    ask = await path(target, clients=clients, stack=stack)
                    await drive(ask, work[: clients * 20], clients=clients)  # warm-up
                    samples, elapsed, got = await drive(ask, work, clients=clients)
                pair.append(summary(f"{label}, {clients} clients, round {rnd}", samples, elapsed))
                answers.append(got)
            assert answers[0][:COMPARED] == answers[1][:COMPARED], "API and bare SQL disagree"
            hits = sum(a is not None for a in answers[1])
            print(f"  owned at the instant asked: {hits / len(work):.0%}", flush=True)
            ratios.append(float(pair[0]["rate_per_s"]) / float(pair[1]["rate_per_s"]))
            rows += pair
        print(f"{clients} clients: API/bare rate ratio per round {[round(r, 2) for r in ratios]}")
        print(f"  median {statistics.median(ratios):.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="ledger rows to generate")
    parser.add_argument("--lookups", type=int, default=3000, help="lookups per path and round")
    parser.add_argument(
        "--clients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 4],
        help="comma-separated concurrent client counts",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=2, help="alternating API/bare rounds")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the PostgreSQL data here and reuse a ledger an earlier run generated",
    )
    args = parser.parse_args()
    print(f"load average {load_average()}", flush=True)
    with postgres(args.data_dir) as url:
        began = time.perf_counter()
        print(f"ledger of {args.rows:,} rows", flush=True)
        ledger = ledgerdata.prepare(url, rows=args.rows, reuse=args.data_dir is not None)
        print(f"ready in {time.perf_counter() - began:.0f} s", flush=True)
        with service(url, workers=args.workers) as base:
            rows = asyncio.run(measure(args, ledger, base=base, url=url))
    print(table(rows))


if __name__ == "__main__":
    main()
