"""The collector's ExaBGP process: rendered config, start, restart with backoff, stop by PID.

These run a real ExaBGP with no ToR configured (nothing to peer with, nothing to bind),
so they need neither root nor a namespace.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from fabric_controller.config import ControllerSettings
from fabric_controller.drift.collector import Collector
from fabric_controller.drift.errors import CollectorConfigError
from fabric_controller.drift.runner import run_in_app
from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.drift.supervisor import Backoff, kill_leftover
from fabric_controller.metrics import Metrics
from tests.fabric_controller.drift_fixtures import FakeIpam, drift_app
from tests.need import need_binary

LIMIT = 20.0


def settings(state: Path, **fields: object) -> CollectorSettings:
    base: dict[str, object] = {
        "enabled": True,
        "state_dir": state,
        "restart_backoff_seconds": 0.1,
        "refresh_interval_seconds": 0,
    }
    return CollectorSettings.model_validate(base | fields)


async def until(check: Callable[[], bool], what: str) -> None:
    step = 0.05
    for _ in range(int(LIMIT / step)):
        if check():
            return
        await asyncio.sleep(step)
    assert check(), what


def processes_naming(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (read-only scan of /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    need_binary(str(CollectorSettings().exabgp))
    running = Collector(settings(tmp_path / "c"))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_start_connects_the_relay_and_stop_ends_everything(collector: Collector) -> None:
    await until(lambda: collector.status().connected, "the relay never connected")
    status = collector.status()
    assert status.running
    assert status.pid is not None
    socket_path = str(collector.socket_path)
    assert processes_naming(socket_path)  # the relay ExaBGP spawned
    await collector.stop()
    assert not processes_naming(str(collector.config_path))
    await until(lambda: not processes_naming(socket_path), "the relay outlived ExaBGP")
    assert not collector.socket_path.exists()
    after = collector.status()
    assert (after.running, after.pid, after.connected) == (False, None, False)


async def test_killed_exabgp_is_restarted(collector: Collector) -> None:
    await until(lambda: collector.status().connected, "the relay never connected")
    first = collector.status()
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    await until(
        lambda: collector.status().starts == 2 and collector.status().connected,
        "ExaBGP was not restarted",
    )
    assert collector.status().pid != first.pid
    assert collector.metrics.registry.get_sample_value("flatnet_collector_exabgp_starts_total") == 2


def test_leftover_exabgp_of_a_previous_run_is_ended(tmp_path: Path) -> None:
    state = tmp_path / "c"
    state.mkdir()
    config = state / "exabgp.conf"
    # A process that looks like our ExaBGP (its command line names our config file) ...
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(config)])
    # ... and one that does not: a recycled PID must never be signalled.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (state / "exabgp.pid").write_text(f"{ours.pid}\n")
        kill_leftover(state / "exabgp.pid", marker=str(config), timeout=5)
        assert ours.wait(timeout=LIMIT) == -signal.SIGTERM
        (state / "exabgp.pid").write_text(f"{other.pid}\n")
        kill_leftover(state / "exabgp.pid", marker=str(config), timeout=5)
        assert other.poll() is None
        assert not (state / "exabgp.pid").exists()
    finally:
        for proc in (ours, other):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=LIMIT)


def test_backoff_doubles_and_resets_after_a_stable_run() -> None:
    backoff = Backoff(first=1.0, longest=8.0, stable=60.0)
    delays = []
    delay = 0.0
    for _ in range(6):
        delay = backoff.next_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.next_delay(8.0, ran_for=60.0) == 1.0


def test_unreadable_md5_file_is_a_config_error(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        listen_addresses=["10.10.0.100"],
        tors=[
            {
                "name": "tor1",
                "asn": 65000,
                "addresses": ["10.10.0.1"],
                "md5_password_file": str(tmp_path / "absent"),
            }
        ],
    )
    with pytest.raises(CollectorConfigError, match="tor1"):
        Collector(s).render()


async def test_runner_hook_serves_the_report_until_stopped(tmp_path: Path) -> None:
    """What ``fabric_controller.main`` starts when ``collector.enabled``: the service goes on
    ``app.state.drift`` while it runs and is gone, with ExaBGP, once ``stop`` is set."""
    need_binary(str(CollectorSettings().exabgp))
    ctl = ControllerSettings(auth="off", database_url="unused", collector=settings(tmp_path / "c"))
    app = drift_app(None, settings=ctl)
    app.state.metrics = Metrics()
    app.state.ipam = FakeIpam()
    stop = asyncio.Event()
    task = asyncio.create_task(run_in_app(app, stop))
    await until(lambda: getattr(app.state, "drift", None) is not None, "the service never came up")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        response = await client.get("/v1/drift")
    assert response.status_code == 200
    assert response.json()["entries"] == []
    assert b"flatnet_drift_entries" in generate_latest(app.state.metrics.registry)
    config = str(tmp_path / "c" / "exabgp.conf")
    assert processes_naming(config)
    stop.set()
    await asyncio.wait_for(task, timeout=LIMIT)
    assert app.state.drift is None
    assert not processes_naming(config)


async def test_state_dir_too_long_for_a_socket_is_refused(tmp_path: Path) -> None:
    collector = Collector(settings(tmp_path / ("d" * 120)))
    with pytest.raises(CollectorConfigError, match="too long"):
        await collector.start()
