"""Run one ExaBGP process, restart it with backoff when it exits, stop it by PID.

The child gets ``PR_SET_PDEATHSIG`` (SIGTERM) so it dies with the controller, and a
session of its own so a Ctrl-C meant for the controller does not reach it first. A pid
file lets the next controller end an ExaBGP left behind by a crashed one; it is only
killed if its command line still names our config file (a recycled PID is left alone).
Every line ExaBGP prints is read and logged, so its stdout pipe never fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Backoff:
    first: float
    longest: float
    stable: float

    def next_delay(self, previous: float, *, ran_for: float) -> float:
        """Delay before the next start: doubled each time, reset after a stable run."""
        if previous <= 0 or ran_for >= self.stable:
            return self.first
        return min(self.longest, previous * 2)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Keeps ``argv`` running until :meth:`stop`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        pidfile: Path,
        backoff: Backoff,
        stop_timeout: float,
        on_start: Callable[[int], None] = lambda pid: None,
        on_exit: Callable[[int | None], None] = lambda code: None,
    ) -> None:
        self.argv = list(argv)
        self.env = env
        self.pidfile = pidfile
        self.backoff = backoff
        self.stop_timeout = stop_timeout
        self.on_start = on_start
        self.on_exit = on_exit
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        await asyncio.to_thread(
            kill_leftover, self.pidfile, marker=self.argv[-1], timeout=self.stop_timeout
        )
        self._stopping = False
        await self._spawn()
        self._task = asyncio.create_task(self._watch(), name="exabgp-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._terminate()
        self.pidfile.unlink(missing_ok=True)

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.starts += 1
        self.pidfile.write_text(f"{self._proc.pid}\n")
        log.info("exabgp started (pid %d, start %d)", self._proc.pid, self.starts)
        self.on_start(self._proc.pid)

    async def _watch(self) -> None:
        delay = 0.0
        while not self._stopping:
            proc = self._proc
            started = time.monotonic()
            code = None
            if proc is not None:
                await _drain(proc)
                code = await proc.wait()
                self.on_exit(code)
            ran_for = time.monotonic() - started
            delay = self.backoff.next_delay(delay, ran_for=ran_for)
            log.warning(
                "exabgp (pid %s) exited with %s after %.1f s; restarting in %.1f s",
                proc.pid if proc is not None else "-",
                code,
                ran_for,
                delay,
            )
            await asyncio.sleep(delay)
            try:
                await self._spawn()
            except OSError as exc:
                # A failed start must not end supervision: try again after the next delay.
                self._proc = None
                log.error("exabgp could not be started: %s", exc)

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=self.stop_timeout)
        except TimeoutError:
            log.warning("exabgp (pid %d) ignored SIGTERM; killing it", proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self.on_exit(proc.returncode)


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Log ExaBGP's own output line by line until it closes stdout.

    A line longer than the stream's limit is dropped with a warning, never allowed to end
    the reading: an unread pipe would freeze ExaBGP.
    """
    stream = proc.stdout
    assert stream is not None
    while not stream.at_eof():
        try:
            raw = await stream.readline()
        except ValueError:
            log.warning("exabgp[%d]: dropped an output line over the read limit", proc.pid)
            continue
        line = raw.decode(errors="replace").rstrip()
        if line:
            log.info("exabgp[%d]: %s", proc.pid, line)


def _is_ours(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return marker.encode() in cmdline


def kill_leftover(pidfile: Path, *, marker: str, timeout: float) -> None:
    """End the process a previous controller left in ``pidfile``, if it is still ours.

    "Ours" means its command line still holds ``marker`` (the config path), checked
    again before each signal, so a recycled PID is never signalled.
    """
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return
    if _is_ours(pid, marker):
        log.warning("ending the exabgp (pid %d) a previous run left", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_ours(pid, marker):
            time.sleep(0.05)
        if _is_ours(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
