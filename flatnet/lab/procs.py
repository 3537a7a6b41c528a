"""The lab's long-running processes (IPAM, PostgreSQL, node agents, their ExaBGPs), by PID.

A :class:`Tracked` record is what the state file keeps of a process: its PID, or the pid
file to read it from when it is time to stop it (PostgreSQL and ExaBGP write their own),
and a marker that must appear in its command line or environment. The marker is what
makes stopping safe: a PID that was recycled for someone else's process never matches,
so ``flatnet lab down`` ends exactly what the lab started, from any process, any time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import alive, end_process, exited


@dataclass(frozen=True)
class Tracked:
    """One process of the lab, as the state file records it."""

    name: str
    marker: str
    """Text its command line (or environment, ``in_environ``) contains."""
    pid: int | None = None
    pidfile: str | None = None
    """A file whose first line is the PID, read when the PID is needed."""
    in_environ: bool = False

    def resolve(self) -> int | None:
        """The PID, if the process (still) runs and is ours."""
        pid = self.pid if self.pidfile is None else read_pidfile(Path(self.pidfile))
        if pid is None or not alive(pid, marker=self.marker, in_environ=self.in_environ):
            return None
        return pid

    def gone(self) -> bool:
        """The process has exited for sure (``resolve`` alone may miss one still in exec)."""
        pid = self.pid if self.pidfile is None else read_pidfile(Path(self.pidfile))
        return self.resolve() is None and (pid is None or exited(pid))

    def stop(self, *, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; nothing if it is gone already."""
        pid = self.resolve()
        if pid is not None:
            end_process(pid, marker=self.marker, grace=grace, in_environ=self.in_environ)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tracked:
        return cls(**data)


def read_pidfile(path: Path) -> int | None:
    try:
        first = path.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def spawn(
    argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (a terminal's Ctrl-C does not reach it), with
    stdout and stderr appended to ``log``; it outlives the command that started it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(log: Path, lines: int) -> str:
    """The last ``lines`` lines of a process's log on one line, for an error message."""
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def base_environment() -> dict[str, str]:
    """The caller's environment with a PATH that reaches ``ip``, ``bird`` and ``ping``."""
    env = dict(os.environ)
    parts = env.get("PATH", "").split(os.pathsep)
    for extra in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if extra not in parts:
            parts.append(extra)
    env["PATH"] = os.pathsep.join(p for p in parts if p)
    return env


def flatnet_command(settings: LabSettings) -> Path:
    """The ``flatnet`` executable the lab runs its components with."""
    return settings.flatnet or Path(sys.executable).with_name("flatnet")


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C does, so a half-built lab is taken down on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
