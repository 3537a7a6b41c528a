"""ExaBGP's API process: relays lines between ExaBGP and the agent's unix socket.

ExaBGP can only talk to programs it starts itself (its ``process`` block), over their
stdin and stdout. The agent owns ExaBGP, so the relationship is turned around: ExaBGP
runs this bridge, and the bridge connects back to the agent (fabric-lab.md section 4)::

    agent (unix-socket server) <--socket--> bridge <--stdin/stdout--> exabgp

Rules that keep ExaBGP healthy, each one learnt the hard way:

* stdin is read from the very first moment, in a thread of its own, whether or not the
  agent is connected. ExaBGP writes acks and events with a blocking ``write()``; once the
  pipe is full its single-threaded reactor stops and every session dies on hold timer.
  Lines that arrive while the agent is away wait in a bounded backlog (oldest dropped),
  and go out in order when the agent connects.
* stdout carries commands only: ExaBGP parses every stdout line as a command.
  Diagnostics go to stderr.
* The bridge never exits because the agent is missing: ExaBGP respawns a dead API
  process at most five times, then shuts itself down. It retries the connection.
* It exits at once on stdin EOF (ExaBGP stopped or died), so no bridge is left orphaned.

Standard library only: it runs as ``python -I bridge.py SOCKET``.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import sys
import threading

WAIT_SLICE = 0.5
"""Longest single wait of the relay loop, so that it notices a closed socket."""
RECV_SIZE = 65536
STDOUT = 1


class Relay:
    def __init__(self, *, path: str, backlog: int, retry: float, exit_grace: float) -> None:
        self.path = path
        self.retry = retry
        self.exit_grace = exit_grace
        self.lines: collections.deque[bytes] = collections.deque(maxlen=backlog)
        self.cond = threading.Condition()
        self.eof = False
        self.stdout_lock = threading.Lock()

    def read_exabgp(self) -> None:
        """stdin -> backlog, forever; on EOF let the relay finish, then exit regardless."""
        stdin = sys.stdin.buffer
        for line in iter(stdin.readline, b""):
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()
        threading.Timer(self.exit_grace, os._exit, args=(0,)).start()

    def serve(self) -> None:
        """Connect, relay until the socket breaks, reconnect; until stdin EOF."""
        while not self.eof:
            sock = self.connect()
            if sock is None:
                return
            broken = threading.Event()
            threading.Thread(target=self.to_exabgp, args=(sock, broken), daemon=True).start()
            try:
                self.to_agent(sock, broken)
            finally:
                broken.set()
                sock.close()

    def connect(self) -> socket.socket | None:
        stop = threading.Event()
        while not self.eof:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                stop.wait(self.retry)
                continue
            return sock
        return None

    def to_agent(self, sock: socket.socket, broken: threading.Event) -> None:
        while not broken.is_set():
            with self.cond:
                if not self.lines:
                    if self.eof:
                        return
                    self.cond.wait(WAIT_SLICE)
                    continue
                batch = list(self.lines)
                self.lines.clear()
            try:
                sock.sendall(b"".join(batch))
            except OSError:
                with self.cond:  # the agent will resync anyway; keep what fits
                    self.lines.extendleft(reversed(batch))
                return

    def to_exabgp(self, sock: socket.socket, broken: threading.Event) -> None:
        """Socket -> stdout as it arrives: the agent only ever sends whole lines."""
        try:
            for data in iter(lambda: sock.recv(RECV_SIZE), b""):
                with self.stdout_lock:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(STDOUT, view) :]
        except OSError as exc:
            print(f"flatnet bridge: agent socket: {exc}", file=sys.stderr)
        finally:
            broken.set()
            with self.cond:
                self.cond.notify_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket", help="the agent's unix socket")
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--retry", type=float, default=0.2, help="seconds between connects")
    parser.add_argument(
        "--exit-grace", type=float, default=1.0, help="seconds to hand over after stdin EOF"
    )
    args = parser.parse_args(argv)
    relay = Relay(
        path=args.socket, backlog=args.backlog, retry=args.retry, exit_grace=args.exit_grace
    )
    threading.Thread(target=relay.read_exabgp, name="stdin", daemon=True).start()
    relay.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
