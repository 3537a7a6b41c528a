"""The ExaBGP supervisor with stand-in programs: restarts, stops by PID, stale processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flatnet.lab.shell import cmdline
from node_agent.bgp.settings import BgpSettings
from node_agent.bgp.supervisor import ExabgpSupervisor
from node_agent.errors import ExabgpError
from tests.lab.harness import eventually

QUICK = BgpSettings(restart_backoff_min=0.01, restart_backoff_max=0.05, stop_timeout=2.0)
LIMIT = 10.0


class Events:
    def __init__(self) -> None:
        self.spawned: list[int] = []
        self.exits: list[tuple[int | None, str]] = []


def supervisor(
    argv: list[str], tmp_path: Path, events: Events, settings: BgpSettings = QUICK
) -> ExabgpSupervisor:
    return ExabgpSupervisor(
        argv=argv,
        env={"PATH": "/usr/bin:/bin"},
        pidfile=tmp_path / "exabgp.pid",
        marker=str(tmp_path),
        settings=settings,
        on_spawn=events.spawned.append,
        on_exit=lambda code, reason: events.exits.append((code, reason)),
    )


@pytest.fixture
def stale(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process a previous agent left: its command line names our state directory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "exabgp.conf")]
    )
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    for _ in range(1000):  # until it has exec'd: before that it looks like pytest
        if str(tmp_path).encode() in cmdline.read_bytes():
            break
        time.sleep(0.01)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def test_a_dying_exabgp_is_started_again_until_stopped(tmp_path: Path) -> None:
    events = Events()
    sup = supervisor(
        [sys.executable, "-c", "import sys; sys.exit(3)", str(tmp_path)], tmp_path, events
    )
    await sup.start()
    await eventually(lambda: sup.restarts >= 3, "three restarts", limit=LIMIT)
    await sup.stop()
    count = sup.restarts
    assert events.exits[0] == (3, "ExaBGP exited with status 3")
    assert len(events.spawned) == count + 1
    await asyncio.sleep(0.1)
    assert sup.restarts == count  # stopped means stopped
    assert not (tmp_path / "exabgp.pid").exists()


async def test_stop_ends_the_child_by_pid_even_if_it_ignores_sigterm(tmp_path: Path) -> None:
    events = Events()
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    settings = QUICK.model_copy(update={"stop_timeout": 0.2})
    sup = supervisor([sys.executable, "-c", code, str(tmp_path)], tmp_path, events, settings)
    await sup.start()
    pid = sup.pid
    assert pid is not None
    assert (tmp_path / "exabgp.pid").read_text().strip() == str(pid)
    await sup.stop()
    assert sup.pid is None
    assert events.exits == []  # a stop is not a death
    assert not cmdline(pid)  # gone (a zombie has an empty command line)


async def test_an_exabgp_left_by_a_previous_agent_is_ended_first(
    tmp_path: Path, stale: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "exabgp.pid").write_text(f"{stale.pid}\n")
    events = Events()
    sup = supervisor(
        [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)], tmp_path, events
    )
    await sup.start()
    try:
        assert stale.wait(timeout=LIMIT) is not None
        assert sup.pid not in (None, stale.pid)
    finally:
        await sup.stop()


@pytest.fixture
def other() -> Iterator[subprocess.Popen[bytes]]:
    """Some unrelated process."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


async def test_a_pidfile_naming_someone_elses_process_is_left_alone(
    tmp_path: Path, other: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "exabgp.pid").write_text(f"{other.pid}\n")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)]
    sup = supervisor(sleeper, tmp_path, Events())
    await sup.start()
    await sup.stop()
    assert other.poll() is None


async def test_a_missing_executable_is_an_exabgp_error(tmp_path: Path) -> None:
    sup = supervisor([str(tmp_path / "no-exabgp")], tmp_path, Events())
    with pytest.raises(ExabgpError, match="cannot start ExaBGP"):
        await sup.start()
