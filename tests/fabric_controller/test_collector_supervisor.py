"""The collector's process supervisor keeps going through what kills naive ones.

Real child processes (small Python programs) stand in for ExaBGP: the supervisor only
starts, reads, waits for and restarts a process, whatever it is.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fabric_controller.drift.supervisor import Backoff, Supervisor

FAST = Backoff(first=0.05, longest=0.1, stable=60.0)
WAIT = 10.0


async def _until(condition: object) -> bool:
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_an_over_long_output_line_does_not_stop_the_reading(tmp_path: Path) -> None:
    # One line far over asyncio's 64 KiB limit, then a normal line, then stay alive:
    # the child can only exit after writing both, so a reader that gave up would leave it
    # blocked on a full pipe and never see it exit.
    script = (
        "import sys; sys.stdout.write('x' * 300000 + '\\n'); "
        "sys.stdout.write('after\\n' * 20000); sys.stdout.flush()"
    )
    exits: list[int | None] = []
    supervisor = Supervisor(
        [sys.executable, "-c", script, str(tmp_path / "marker")],
        env={},
        pidfile=tmp_path / "child.pid",
        backoff=Backoff(first=30.0, longest=30.0, stable=60.0),
        stop_timeout=2.0,
        on_exit=exits.append,
    )
    await supervisor.start()
    try:
        assert await _until(lambda: exits == [0])
    finally:
        await supervisor.stop()


async def test_a_failed_restart_does_not_end_supervision(tmp_path: Path) -> None:
    program = tmp_path / "child"
    program.write_text(f"#!{sys.executable}\nimport sys; sys.exit(3)\n")
    program.chmod(0o755)
    starts: list[int] = []
    supervisor = Supervisor(
        [str(program), str(tmp_path / "marker")],
        env={},
        pidfile=tmp_path / "child.pid",
        backoff=FAST,
        stop_timeout=2.0,
        on_start=starts.append,
    )
    await supervisor.start()
    try:
        assert await _until(lambda: len(starts) >= 1)
        program.chmod(0o644)  # the next starts fail with PermissionError (an OSError)
        await asyncio.sleep(0.5)
        failed_at = len(starts)
        program.chmod(0o755)  # startable again: supervision must pick it up
        assert await _until(lambda: len(starts) > failed_at)
    finally:
        await supervisor.stop()
