"""The relay ExaBGP runs: drains stdin from the first moment, relays both ways, exits on EOF."""

from __future__ import annotations

import fcntl
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabric_controller.drift.collector import RELAY

LIMIT = 10.0


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "r.sock"


@pytest.fixture
def relay(sock_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-I", str(RELAY), str(sock_path), "100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=LIMIT)


def listen(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(LIMIT)
    return server


def read_lines(conn: socket.socket, count: int) -> list[bytes]:
    conn.settimeout(LIMIT)
    data = b""
    deadline = time.monotonic() + LIMIT
    while data.count(b"\n") < count and time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.splitlines()


def test_lines_written_before_the_controller_listens_arrive_in_order(
    relay: subprocess.Popen[bytes], sock_path: Path
) -> None:
    assert relay.stdin is not None
    for n in range(50):
        relay.stdin.write(f'{{"n": {n}}}\n'.encode())
    relay.stdin.flush()
    time.sleep(0.3)  # the relay is retrying its connection meanwhile
    with listen(sock_path) as server:
        conn, _ = server.accept()
        with conn:
            assert read_lines(conn, 50) == [f'{{"n": {n}}}'.encode() for n in range(50)]


def test_commands_go_to_stdout_and_eof_ends_the_relay(
    relay: subprocess.Popen[bytes], sock_path: Path
) -> None:
    assert relay.stdin is not None
    assert relay.stdout is not None
    with listen(sock_path) as server:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"neighbor 10.10.0.1 announce route-refresh ipv4 unicast\n")
            assert (
                relay.stdout.readline()
                == b"neighbor 10.10.0.1 announce route-refresh ipv4 unicast\n"
            )
            relay.stdin.write(b"done\n")
            relay.stdin.close()  # ExaBGP went away
            assert read_lines(conn, 1) == [b"done"]
            assert relay.wait(timeout=LIMIT) == 0


def test_reconnects_after_the_controller_restarts(
    relay: subprocess.Popen[bytes], sock_path: Path
) -> None:
    assert relay.stdin is not None
    with listen(sock_path) as server:
        conn, _ = server.accept()
        relay.stdin.write(b"one\n")
        relay.stdin.flush()
        assert read_lines(conn, 1) == [b"one"]
        conn.close()
        relay.stdin.write(b"two\n")
        relay.stdin.flush()
        again, _ = server.accept()
        with again:
            assert read_lines(again, 1)[-1:] == [b"two"]
    assert relay.poll() is None  # never exits because the controller went away


def drained(proc: subprocess.Popen[bytes]) -> None:
    """Wait until the relay has read everything written to its stdin (bounded)."""
    assert proc.stdin is not None
    deadline = time.monotonic() + LIMIT
    unread = 1
    while unread and time.monotonic() < deadline:
        unread = struct.unpack("i", fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0" * 4))[
            0
        ]
        time.sleep(0.05)
    assert unread == 0
    time.sleep(0.1)  # from the reader's buffer into its backlog


def test_backlog_is_bounded(relay: subprocess.Popen[bytes], sock_path: Path) -> None:
    """Backlog 100: of 150 lines written while nobody listens, the newest 100 are kept."""
    assert relay.stdin is not None
    relay.stdin.write(b"".join(f"{n}\n".encode() for n in range(150)))
    relay.stdin.flush()
    drained(relay)
    with listen(sock_path) as server:
        conn, _ = server.accept()
        with conn:
            lines = read_lines(conn, 100)
    assert lines == [str(n).encode() for n in range(50, 150)]
