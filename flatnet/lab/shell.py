"""Running the lab's commands (``ip``, ``birdc``, ``vtysh``) and ending its processes by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from flatnet.lab.errors import LabCommandError

POLL = 0.02
"""Seconds between checks while waiting for a process to exit."""


def run(
    argv: list[str],
    *,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv`` and return its stdout; raise LabCommandError when it fails."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=None if env is None else dict(env),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabCommandError(f"{' '.join(argv)}: {exc}", argv=argv) from exc
    if check and done.returncode != 0:
        raise LabCommandError(
            f"{' '.join(argv)}: {done.stderr.strip() or f'exit {done.returncode}'}",
            argv=argv,
            stderr=done.stderr,
        )
    return done.stdout


def ip(*args: str, timeout: float, check: bool = True) -> str:
    return run(["ip", *args], timeout=timeout, check=check)


def cmdline(pid: int) -> str:
    """The command line of ``pid`` with spaces, or "" when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie. A process still inside ``execve`` (its parent
    already back from ``fork``/``exec``) shows no command line or environment for a moment,
    yet it has not exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat.rpartition(")")[2].split()
    return not state or state[0] in ("Z", "X")


def environ(pid: int) -> list[str]:
    """The environment of ``pid`` as ``NAME=value`` strings, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return []
    return [item.decode(errors="replace") for item in raw.split(b"\0") if item]


def alive(pid: int, *, marker: str, in_environ: bool = False) -> bool:
    """True while ``pid`` runs a command line (or, ``in_environ``, has an environment)
    containing ``marker``: a recycled PID is never taken for ours."""
    if in_environ:
        return bool(cmdline(pid)) and any(marker in item for item in environ(pid))
    return marker in cmdline(pid)


def end_process(pid: int, *, marker: str, grace: float, in_environ: bool = False) -> None:
    """SIGTERM ``pid`` if it is still ours (``marker``), SIGKILL after ``grace`` seconds."""
    if not alive(pid, marker=marker, in_environ=in_environ):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, marker=marker, limit=grace, in_environ=in_environ):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, marker=marker, limit=grace, in_environ=in_environ)


def wait_gone(pid: int, *, marker: str, limit: float, in_environ: bool = False) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, marker=marker, in_environ=in_environ):
            return True
        time.sleep(POLL)
    return not alive(pid, marker=marker, in_environ=in_environ)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
