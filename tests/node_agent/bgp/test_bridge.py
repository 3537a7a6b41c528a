"""The API bridge as ExaBGP runs it: a real process, stdin/stdout pipes, a unix socket."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node_agent.bgp.launch import BRIDGE
from tests.lab.harness import wait_for

LIMIT = 10.0


def unread(fd: int) -> int:
    """Bytes written to a pipe that its reader has not taken yet (FIONREAD)."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def drained(bridge: subprocess.Popen[bytes]) -> None:
    stdin = bridge.stdin
    assert stdin is not None
    wait_for(lambda: unread(stdin.fileno()) == 0, "the bridge to read all of stdin", limit=LIMIT)


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.sock"


@pytest.fixture
def start_bridge(sock_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-I", str(BRIDGE), str(sock_path), "--retry", "0.02", *extra]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
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
    while data.count(b"\n") < count:
        chunk = conn.recv(65536)
        assert chunk, "the bridge closed the connection"
        data += chunk
    return data.splitlines()


@pytest.mark.parametrize(
    ("extra", "written", "arrived"),
    [
        pytest.param(
            (),
            [b'{"n": %d}' % i for i in range(50)],
            [b'{"n": %d}' % i for i in range(50)],
            id="in-order",
        ),
        pytest.param(
            ("--backlog", "100"),
            [b"line %d" % i for i in range(250)],
            [b"line %d" % i for i in range(150, 250)],
            id="bounded-keeps-newest",
        ),
    ],
)
def test_lines_from_before_the_agent_listens_wait_in_the_backlog(
    start_bridge: Callable[..., subprocess.Popen[bytes]],
    sock_path: Path,
    extra: tuple[str, ...],
    written: list[bytes],
    arrived: list[bytes],
) -> None:
    """They arrive in order once the agent listens; beyond the backlog the oldest go."""
    bridge = start_bridge(*extra)
    assert bridge.stdin is not None
    bridge.stdin.write(b"".join(line + b"\n" for line in written))
    bridge.stdin.flush()
    drained(bridge)
    with listen(sock_path) as server:
        conn, _ = server.accept()
        with conn:
            assert read_lines(conn, len(arrived)) == arrived


def test_stdin_is_drained_while_the_agent_does_not_read(
    start_bridge: Callable[..., subprocess.Popen[bytes]], sock_path: Path
) -> None:
    """ExaBGP must never block on its write to the bridge (fabric-lab.md pitfall 1)."""
    with listen(sock_path) as server:
        bridge = start_bridge("--backlog", "1000")
        conn, _ = server.accept()
        with conn:
            assert bridge.stdin is not None
            line = b"x" * 200 + b"\n"
            for _ in range(200):  # 8 MB, far beyond the pipe's and the socket's buffers
                bridge.stdin.write(line * 200)
            bridge.stdin.flush()
            drained(bridge)
            assert bridge.poll() is None


def test_commands_from_the_agent_reach_stdout_one_per_line(
    start_bridge: Callable[..., subprocess.Popen[bytes]], sock_path: Path
) -> None:
    with listen(sock_path) as server:
        bridge = start_bridge()
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"neighbor 10.10.0.1 announce route 10.244.1.0/26 next-hop self\n")
            conn.sendall(b"neighbor 10.10.0.1 announce eor ipv4 unicast\n")
            assert bridge.stdout is not None
            assert bridge.stdout.readline() == (
                b"neighbor 10.10.0.1 announce route 10.244.1.0/26 next-hop self\n"
            )
            assert bridge.stdout.readline() == b"neighbor 10.10.0.1 announce eor ipv4 unicast\n"


def test_the_bridge_reconnects_when_the_agent_goes_away(
    start_bridge: Callable[..., subprocess.Popen[bytes]], sock_path: Path
) -> None:
    with listen(sock_path) as server:
        bridge = start_bridge()
        assert bridge.stdin is not None
        first, _ = server.accept()
        first.close()  # the agent restarts
        second, _ = server.accept()
        with second:
            bridge.stdin.write(b"done\n")
            bridge.stdin.flush()
            assert read_lines(second, 1) == [b"done"]
            assert bridge.poll() is None


def test_the_bridge_exits_on_stdin_eof_even_without_an_agent(
    start_bridge: Callable[..., subprocess.Popen[bytes]],
) -> None:
    bridge = start_bridge()
    assert bridge.stdin is not None
    bridge.stdin.close()
    assert bridge.wait(timeout=LIMIT) == 0


def test_the_bridge_exits_on_stdin_eof_while_connected(
    start_bridge: Callable[..., subprocess.Popen[bytes]], sock_path: Path
) -> None:
    with listen(sock_path) as server:
        bridge = start_bridge()
        conn, _ = server.accept()
        with conn:
            assert bridge.stdin is not None
            bridge.stdin.write(b"shutdown\n")
            bridge.stdin.close()
            assert read_lines(conn, 1) == [b"shutdown"]
            assert bridge.wait(timeout=LIMIT) == 0
    assert os.path.exists(sock_path)
