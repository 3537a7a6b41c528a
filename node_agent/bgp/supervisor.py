"""The ExaBGP process: started as the agent's child, restarted with backoff, stopped by PID.

The supervisor knows nothing about routes. It tells its owner when a new ExaBGP runs
(``on_spawn``) and when one died (``on_exit``); the speaker resyncs on both. ExaBGP's
own log (stdout and stderr, merged) is always read, for the same reason as its API
pipe: a full pipe would block it. The last lines are kept and logged when it dies.

Processes are ended by PID only: the child we started, or the one a previous agent
left behind, recognised by a pidfile and its command line naming our config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from node_agent.bgp.settings import BgpSettings
from node_agent.errors import ExabgpError

log = logging.getLogger("flatnet.agent.bgp")
exabgp_log = logging.getLogger("flatnet.agent.exabgp")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """ExaBGP gets SIGTERM when the agent dies: graceful restart keeps its routes."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ExabgpSupervisor:
    """Runs one ExaBGP at a time for as long as the owner wants one."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        env: Mapping[str, str],
        pidfile: Path,
        marker: str,
        settings: BgpSettings,
        on_spawn: Callable[[int], None],
        on_exit: Callable[[int | None, str], None],
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._pidfile = pidfile
        self._marker = marker
        self._settings = settings
        self._on_spawn = on_spawn
        self._on_exit = on_exit
        self._proc: asyncio.subprocess.Process | None = None
        self._output: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=settings.log_tail)
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Kill an ExaBGP left by a previous agent, then start ours; raise ExabgpError."""
        self._stopping = False
        await kill_stale(
            self._pidfile,
            marker=self._marker,
            grace=self._settings.stop_timeout,
            poll=self._settings.stale_poll,
        )
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="exabgp-supervisor")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; no restart afterwards."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await terminate(proc, grace=self._settings.stop_timeout)
        if self._output is not None:
            await asyncio.gather(self._output, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self._pidfile.unlink()

    async def _spawn(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExabgpError(f"cannot start ExaBGP ({self._argv[0]}): {exc}") from exc
        self._proc = proc
        self._pidfile.write_text(f"{proc.pid}\n")
        assert proc.stdout is not None
        self._output = asyncio.create_task(self._read_output(proc.stdout), name="exabgp-log")
        log.info("ExaBGP started (pid %d)", proc.pid)
        self._on_spawn(proc.pid)

    async def _supervise(self) -> None:
        delay = self._settings.restart_backoff_min
        loop = asyncio.get_running_loop()
        while not self._stopping:
            proc = self._proc
            assert proc is not None
            started = loop.time()
            code = await proc.wait()
            if self._output is not None:
                await asyncio.gather(self._output, return_exceptions=True)
            if self._stopping:
                return
            if loop.time() - started >= self._settings.restart_backoff_reset:
                delay = self._settings.restart_backoff_min
            tail = " | ".join(self._tail)
            log.warning("ExaBGP exited with %s; restarting in %.1fs: %s", code, delay, tail)
            self._on_exit(code, f"ExaBGP exited with status {code}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.restart_backoff_max)
            try:
                await self._spawn()
            except ExabgpError as exc:
                log.error("%s", exc)
                self._on_exit(None, str(exc))
                continue
            self.restarts += 1

    async def _read_output(self, stream: asyncio.StreamReader) -> None:
        while not stream.at_eof():  # ExaBGP's log must never back up
            try:
                raw = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not raw:
                return
            text = raw.decode(errors="replace").rstrip()
            self._tail.append(text)
            exabgp_log.debug("%s", text)


async def terminate(proc: asyncio.subprocess.Process, *, grace: float) -> None:
    """End our child by PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def kill_stale(pidfile: Path, *, marker: str, grace: float, poll: float) -> None:
    """End the ExaBGP named in ``pidfile`` if its command line still contains ``marker``."""
    pid = _stale_pid(pidfile, marker)
    if pid is None:
        return
    log.info("stopping ExaBGP left by a previous agent (pid %d)", pid)
    sig: int = signal.SIGTERM
    for _ in range(int(grace / poll) + 1):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        sig = 0  # only probe from now on
        await asyncio.sleep(poll)
        if marker not in _cmdline(pid):  # gone, or a zombie whose cmdline is empty
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _stale_pid(pidfile: Path, marker: str) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if marker in _cmdline(pid) else None


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")
