"""Shared plumbing for the benchmarks: a throwaway PostgreSQL, a service process, a lean
HTTP/1.1 client for load, and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from ipam_service.database import embedded_server, migrate


@contextlib.contextmanager
def postgres(data_dir: Path | None = None) -> Iterator[str]:
    """An embedded PostgreSQL at schema head: throwaway, or kept in ``data_dir`` (stopped,
    not deleted, at the end) so a later run can reuse what it holds.
    FLATNET_BENCH_DATABASE_URL names an external server instead."""
    external = os.environ.get("FLATNET_BENCH_DATABASE_URL")
    if external:
        migrate(external, lock_id=1)
        yield external
        return
    root = None
    if data_dir is None:
        root = Path(tempfile.mkdtemp(prefix="flatnet-bench-"))
        root.chmod(0o755)
        server = embedded_server(root / "pg", cleanup_mode="delete")
    else:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_server(data_dir, cleanup_mode="stop")
    try:
        url = server.get_uri()
        migrate(url, lock_id=1)
        yield url
    finally:
        server.cleanup()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def service(url: str, *, workers: int, pool_size: int = 16) -> Iterator[str]:
    """``python -m ipam_service`` on a free port; ended by PID."""
    port = free_port()
    env = os.environ | {
        "FLATNET_DATABASE_URL": url,
        "FLATNET_AUTH": "off",
        "FLATNET_PORT": str(port),
        "FLATNET_WORKERS": str(workers),
        "FLATNET_DB_POOL_SIZE": str(pool_size),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipam_service"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("service not ready")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LeanHttp:
    """One keep-alive HTTP/1.1 connection with next to no client-side work.

    The load generator shares the two cores with the service and PostgreSQL, so it must
    cost little: a general client (httpx) spends more CPU per request than the handler it
    measures. Enough HTTP for uvicorn's answers: a status line, headers, a
    Content-Length body.
    """

    def __init__(self, base: str) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanHttp:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" not in headers:
            raise RuntimeError(f"{method} {path}: answer without Content-Length: {raw!r}")
        return status, await self.reader.readexactly(int(headers[b"content-length"]))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, samples: Sequence[float], elapsed: float) -> dict[str, float | str]:
    return {
        "name": name,
        "n": len(samples),
        "rate_per_s": len(samples) / elapsed,
        "p50_ms": statistics.median(samples) * 1000,
        "p90_ms": pct(samples, 0.9) * 1000,
        "p99_ms": pct(samples, 0.99) * 1000,
    }


def table(rows: Sequence[dict[str, float | str]]) -> str:
    cols = ["name", "n", "rate_per_s", "p50_ms", "p90_ms", "p99_ms"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
