"""Relay between the collector's ExaBGP and the controller. Standard library only.

ExaBGP runs this file as its API process
(``run python -I relay.py <socket> <backlog-lines> <retry-seconds> <flush-seconds>``):
ExaBGP's JSON events arrive on stdin, and every line written to stdout is a command for
ExaBGP. The relay connects to the controller's unix socket and moves lines both ways.

Rules that keep ExaBGP healthy (fabric-lab notes, section 4.2 and pitfalls 1 and 3):

* stdin is read from the first moment, in its own thread, whether or not the controller
  is connected: ExaBGP writes with a blocking ``write()``, and a full pipe stalls its
  whole reactor until every BGP session drops on its hold timer;
* lines that arrive while the controller is away wait in a bounded backlog (oldest
  dropped first) and go out, in order, on the next connection;
* the relay never exits because the controller is gone (ExaBGP respawns a dead API
  process at most 5 times, then exits); it retries the connection (every 0.2 s);
* it exits when stdin reaches EOF (ExaBGP is stopping or dead), after at most the flush
  time spent handing the last lines over;
* stdout carries nothing but the controller's commands; diagnostics go to stderr.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import sys
import threading
import time

RETRY_SECONDS = 0.2
FLUSH_ON_EOF_SECONDS = 1.0
"""Defaults when ExaBGP's ``run`` line does not give them (the collector always does)."""


class Relay:
    def __init__(self, path: str, *, backlog: int, retry: float, flush: float) -> None:
        self.path = path
        self.retry = retry
        self.flush = flush
        self.lines: collections.deque[bytes] = collections.deque(maxlen=backlog)
        self.cond = threading.Condition()
        self.eof = False
        self.dropped = 0

    def read_stdin(self) -> None:
        for line in sys.stdin.buffer:
            with self.cond:
                if len(self.lines) == self.lines.maxlen:
                    self.dropped += 1
                self.lines.append(line)
                self.cond.notify()
        with self.cond:
            self.eof = True
            self.cond.notify()

    def to_exabgp(self, sock: socket.socket, closed: threading.Event) -> None:
        """Controller -> ExaBGP: each line to stdout, flushed at once. Sets ``closed``
        (this connection's own flag) when the controller goes away."""
        with contextlib.suppress(OSError), sock.makefile("rb") as stream:
            for line in stream:
                try:
                    sys.stdout.buffer.write(line if line.endswith(b"\n") else line + b"\n")
                    sys.stdout.buffer.flush()
                except BrokenPipeError:
                    os._exit(0)  # ExaBGP is gone
        with self.cond:
            closed.set()
            self.cond.notify()

    def connect(self) -> tuple[socket.socket, threading.Event] | None:
        while not self.eof:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                time.sleep(self.retry)
                continue
            closed = threading.Event()
            threading.Thread(target=self.to_exabgp, args=(sock, closed), daemon=True).start()
            return sock, closed
        return None

    def pump(self, sock: socket.socket, closed: threading.Event) -> None:
        """ExaBGP -> controller until the connection breaks or stdin ends."""
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            with self.cond:
                self.cond.wait_for(lambda: self.lines or self.eof or closed.is_set(), timeout=1.0)
                if closed.is_set():
                    return
                batch = list(self.lines)
                self.lines.clear()
                if self.eof and not batch:
                    return
                if self.eof and deadline is None:
                    deadline = time.monotonic() + self.flush
            try:
                sock.sendall(b"".join(batch))
            except OSError:
                with self.cond:
                    self.lines.extendleft(reversed(batch))
                return

    def run(self) -> int:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        while not self.eof:
            connection = self.connect()
            if connection is None:
                break
            sock, closed = connection
            with sock:
                self.pump(sock, closed)
            if self.dropped:
                print(f"relay: {self.dropped} lines dropped", file=sys.stderr, flush=True)
        return 0


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 5:
        print("usage: relay.py <socket> [backlog-lines [retry-s [flush-s]]]", file=sys.stderr)
        return 2
    backlog = int(argv[2]) if len(argv) > 2 else 10_000
    retry = float(argv[3]) if len(argv) > 3 else RETRY_SECONDS
    flush = float(argv[4]) if len(argv) > 4 else FLUSH_ON_EOF_SECONDS
    return Relay(argv[1], backlog=backlog, retry=retry, flush=flush).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
