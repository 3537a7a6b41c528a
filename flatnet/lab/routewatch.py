"""Watching a namespace's kernel routes: ``ip -ts monitor route`` in a reader thread.

Used to prove that nothing changed (restarts must be hitless) and to timestamp when a
route reached the ToR's FIB (benchmarks). ``ip monitor`` gives no sign that it has
subscribed, so :meth:`RouteWatch.start` adds a blackhole route to a private table and
waits to see it; events of that table are left out afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flatnet.lab.errors import LabDaemonError
from flatnet.lab.shell import end_process, ip


@dataclass(frozen=True)
class RouteEvent:
    """One RTM_NEWROUTE / RTM_DELROUTE as ``ip monitor`` printed it."""

    at: float
    """Wall-clock time ``ip`` received the message (``time.time()`` scale)."""
    deleted: bool
    prefix: str
    text: str


def parse(line: str) -> RouteEvent | None:
    """A ``[timestamp] [Deleted ]<route>`` line, or None."""
    if not line.startswith("[") or "]" not in line:
        return None
    stamp, _, rest = line[1:].partition("]")
    try:
        at = datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None
    words = rest.split()
    deleted = bool(words) and words[0] == "Deleted"
    if deleted:
        words = words[1:]
    if words and words[0] in {"blackhole", "unreachable", "prohibit", "local", "broadcast"}:
        words = words[1:]
    if not words:
        return None
    return RouteEvent(at=at, deleted=deleted, prefix=words[0], text=rest.strip())


class RouteWatch:
    """Every route change in ``netns`` from :meth:`start` to :meth:`stop`."""

    def __init__(self, netns: str, *, sentinel: str, table: int, timeout: float) -> None:
        self.netns = netns
        self._sentinel = sentinel
        self._table = table
        self._timeout = timeout
        self._events: list[RouteEvent] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RouteWatch:
        self._proc = subprocess.Popen(
            ["ip", "-ts", "-n", self.netns, "monitor", "route"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._thread = threading.Thread(target=self._read, name=f"watch-{self.netns}", daemon=True)
        self._thread.start()
        marker = ("blackhole", self._sentinel, "table", str(self._table))
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            ip("-n", self.netns, "route", "replace", *marker, timeout=self._timeout)
            if self.wait(lambda evs: any(e.prefix == self._sentinel for e in evs), limit=0.2):
                ip("-n", self.netns, "route", "del", *marker, timeout=self._timeout, check=False)
                return self
            ip("-n", self.netns, "route", "del", *marker, timeout=self._timeout, check=False)
        self.stop()
        raise LabDaemonError(f"ip monitor in {self.netns} did not start")

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            end_process(proc.pid, marker="monitor", grace=self._timeout)
            proc.wait(timeout=self._timeout)
        if self._thread is not None:
            self._thread.join(timeout=self._timeout)

    def __enter__(self) -> RouteWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self, *, proto: str | None = None) -> list[RouteEvent]:
        """Route changes seen so far, without the readiness sentinel; ``proto`` keeps only
        the routes of one routing daemon (``bird``, ``bgp``), leaving out the kernel's own
        (link-local addresses appearing after a link came up, for instance)."""
        with self._cond:
            events = [e for e in self._events if f"table {self._table}" not in e.text]
        if proto is not None:
            events = [e for e in events if f" proto {proto} " in f" {e.text} "]
        return events

    def wait(self, predicate: Callable[[list[RouteEvent]], bool], *, limit: float) -> bool:
        """Wait up to ``limit`` seconds until ``predicate(all events)`` holds."""
        deadline = time.monotonic() + limit
        with self._cond:
            while not predicate(list(self._events)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _read(self) -> None:
        """Publish each route at its first line; ``nexthop`` lines extend the last one."""
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                if line[:1].isspace():
                    if self._events:
                        last = self._events[-1]
                        text = f"{last.text} {line.strip()}"
                        self._events[-1] = RouteEvent(last.at, last.deleted, last.prefix, text)
                    continue
                event = parse(line)
                if event is not None:
                    self._events.append(event)
                    self._cond.notify_all()
