"""A bare ExaBGP in a node namespace, driven through a FIFO: no agent code at all.

Benchmarks use it as the reference the agent's speaker is compared with; tests use it
to announce what a node agent never would (another node's next hop, a wrong length, a
prefix outside the pools) and check that the ToR filter rejects it. Its config is
written here, independently of the agent's, with the same session settings.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from flatnet.lab.errors import LabDaemonError
from flatnet.lab.procs import spawn
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import alive, end_process

Address = IPv4Address | IPv6Address
POLL = 0.01
"""Seconds between reads of the process log while waiting for a line."""


@dataclass(frozen=True)
class BareNeighbor:
    peer: Address
    local: Address
    router_id: IPv4Address
    local_as: int
    peer_as: int
    families: tuple[str, ...]
    password: str | None = None
    graceful_restart: int = 120
    hold_time: int = 9


@dataclass(frozen=True)
class LogLine:
    at: float
    direction: str
    text: str


def render(neighbors: list[BareNeighbor], *, process: list[str]) -> str:
    lines = ["process bare {", f"    run {' '.join(process)};", "    encoder json;", "}"]
    for n in neighbors:
        lines += [
            f"neighbor {n.peer} {{",
            f"    router-id {n.router_id};",
            f"    local-address {n.local};",
            f"    local-as {n.local_as};",
            f"    peer-as {n.peer_as};",
            f"    hold-time {n.hold_time};",
            "    group-updates false;",
            *([f'    md5-password "{n.password}";'] if n.password else []),
            f"    capability {{ graceful-restart {n.graceful_restart}; route-refresh; }}",
            "    family {",
            *(f"        {family} unicast;" for family in n.families),
            "    }",
            "    api { processes [ bare ]; neighbor-changes; }",
            "}",
        ]
    return "\n".join(lines) + "\n"


class BareExabgp:
    """ExaBGP plus :mod:`flatnet.lab.bare_process`; commands in, timestamped log out."""

    def __init__(
        self,
        *,
        netns: str,
        directory: Path,
        neighbors: list[BareNeighbor],
        settings: LabSettings,
    ) -> None:
        self.netns = netns
        self.directory = directory
        self._neighbors = neighbors
        self._settings = settings
        self.pid: int | None = None
        self._fifo_fd: int | None = None

    @property
    def conf(self) -> Path:
        return self.directory / "exabgp.conf"

    @property
    def log(self) -> Path:
        return self.directory / "process.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fifo = self.directory / "commands.fifo"
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        script = Path(__file__).resolve().with_name("bare_process.py")
        process = [sys.executable, "-I", str(script), str(fifo), str(self.log)]
        self.conf.write_text(render(self._neighbors, process=process))
        exabgp = self._settings.exabgp or Path(sys.executable).with_name("exabgp")
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "exabgp.daemon.user": "root",
            "exabgp.daemon.daemonize": "false",
            "exabgp.api.ack": "true",
            "exabgp.api.cli": "false",
            "exabgp.log.destination": "stdout",
            "exabgp.log.statistics": "false",
            "exabgp.tcp.bind": "",
        }
        argv = ["ip", "netns", "exec", self.netns, str(exabgp), "server", str(self.conf)]
        self.pid = spawn(argv, log=self.directory / "exabgp.out", env=env).pid
        self._fifo_fd = os.open(fifo, os.O_RDWR)

    def stop(self) -> None:
        if self._fifo_fd is not None:
            os.close(self._fifo_fd)
            self._fifo_fd = None
        if self.pid is not None:
            end_process(self.pid, marker=str(self.conf), grace=self._settings.daemon_stop_timeout)
            self.pid = None

    def running(self) -> bool:
        return self.pid is not None and alive(self.pid, marker=str(self.conf))

    def send(self, command: str) -> None:
        """Hand ``command`` to the process, which writes it to ExaBGP (logged as OUT)."""
        if self._fifo_fd is None:
            raise LabDaemonError("the bare ExaBGP is not running")
        os.write(self._fifo_fd, command.encode() + b"\n")

    def lines(self) -> list[LogLine]:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for raw in text.splitlines():
            at, _, rest = raw.partition(" ")
            direction, _, body = rest.partition(" ")
            try:
                out.append(LogLine(float(at), direction, body))
            except ValueError:
                continue
        return out

    def wait_line(
        self, predicate: Callable[[LogLine], bool], *, limit: float, after: int = 0
    ) -> LogLine:
        """The first log line (from index ``after``) ``predicate`` accepts, polling."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for line in self.lines()[after:]:
                if predicate(line):
                    return line
            time.sleep(POLL)
        raise LabDaemonError(f"the bare ExaBGP in {self.netns} never logged the line awaited")

    def wait_up(self, count: int, *, limit: float) -> None:
        """Wait until ``count`` sessions have reported ``up``."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            ups = [ln for ln in self.lines() if ln.direction == "IN" and '"state": "up"' in ln.text]
            if len(ups) >= count:
                return
            time.sleep(POLL)
        raise LabDaemonError(f"the bare ExaBGP in {self.netns} did not bring {count} sessions up")
