"""64 concurrent claimers against two separate service processes sharing one database."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.databases import fresh_database

CLAIMERS = 64
NODES = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shared_db(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, prefix="flatnet_race", migrated=True) as url:
        yield url


@pytest.fixture
def two_services(shared_db: str) -> Iterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    env = os.environ | {"FLATNET_DATABASE_URL": shared_db, "FLATNET_AUTH": "off"}
    try:
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "from flatnet.cli import main; main()",
                        "ipam",
                        "serve",
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            wait_ready(url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"service exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in 30 s")


async def test_concurrent_claims_never_overlap_and_retries_agree(
    two_services: list[str], shared_db: str
) -> None:
    a, b = (httpx.AsyncClient(base_url=u, timeout=30) for u in two_services)
    pool = {"name": "race", "cidrs": ["10.100.0.0/20"], "block_prefixlen": 26}
    assert (await a.post("/v1/pools", json=pool)).status_code == 201
    for n in range(NODES):
        r = await b.put(f"/v1/nodes/n{n}", json={"node_ip": f"192.0.2.{n + 1}"})
        assert r.status_code == 201

    async def claimer(i: int) -> tuple[str, str, str]:
        # claimers 2k and 2k+1 send the same request at the same time, one to each
        # service, then each retries it on the other service
        node, request_id = f"n{(i // 2) % NODES}", f"req-{i // 2}"
        first, second = (a, b) if i % 2 else (b, a)
        body = {"pool": "race", "request_id": request_id}
        r1 = await first.post(f"/v1/nodes/{node}/blocks", json=body)
        r2 = await second.post(f"/v1/nodes/{node}/blocks", json=body)
        assert r1.status_code in (200, 201), r1.text
        assert r2.status_code == 200, r2.text
        assert r1.json()["cidr"] == r2.json()["cidr"]
        return node, request_id, r1.json()["cidr"]

    results = await asyncio.gather(*(claimer(i) for i in range(CLAIMERS)))
    by_key: dict[tuple[str, str], set[str]] = {}
    for node, rid, cidr in results:
        by_key.setdefault((node, rid), set()).add(cidr)
    assert len(by_key) == CLAIMERS // 2
    assert all(len(c) == 1 for c in by_key.values())
    cidrs = sorted(ipaddress.ip_network(next(iter(c))) for c in by_key.values())
    assert len(cidrs) == len(by_key)
    for x, y in itertools.pairwise(cidrs):
        assert not x.overlaps(y)
    engine = create_engine(shared_db)
    with engine.connect() as conn:
        overlaps = conn.execute(
            text(
                "SELECT count(*) FROM blocks x JOIN blocks y ON x.id < y.id AND x.cidr && y.cidr"
                " WHERE x.released_at IS NULL AND y.released_at IS NULL"
            )
        ).scalar()
        held = conn.execute(text("SELECT count(*) FROM blocks WHERE released_at IS NULL")).scalar()
    engine.dispose()
    assert overlaps == 0
    assert held == len(by_key)
    await a.aclose()
    await b.aclose()
