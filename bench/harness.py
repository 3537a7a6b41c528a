"""Shared plumbing for the benchmarks: a throwaway PostgreSQL, a service process, stats."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from ipam_service.database import migrate


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway embedded PostgreSQL (FLATNET_BENCH_DATABASE_URL overrides it)."""
    external = os.environ.get("FLATNET_BENCH_DATABASE_URL")
    if external:
        yield external
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server
    root = Path(tempfile.mkdtemp(prefix="flatnet-bench-"))
    root.chmod(0o755)
    server = get_server(root / "pg", cleanup_mode="delete")
    try:
        url = server.get_uri()
        migrate(url, lock_id=1)
        yield url
    finally:
        server.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def service(url: str, *, workers: int) -> Iterator[str]:
    """``python -m ipam_service`` on a free port; ended by PID."""
    port = free_port()
    env = os.environ | {
        "FLATNET_DATABASE_URL": url,
        "FLATNET_AUTH": "off",
        "FLATNET_PORT": str(port),
        "FLATNET_WORKERS": str(workers),
        "FLATNET_DB_POOL_SIZE": "16",
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
