"""Fixtures for the CNI plugin tests: the built executable and stub agent sockets.

The stubs are NOT a node agent. ``silent_agent`` accepts connections, records the
request and never answers (CNI-046); ``canned_agent`` answers every request with one canned HTTP
error and records what the plugin sent, to test error pass-through and the wire
requests. Nothing here pretends that an allocation happened.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cni.harness import Plugin

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="session")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Plugin:
    """The real executable, installed once per session with the node's python3."""
    return Plugin.build(tmp_path_factory.mktemp("cni"), python=SYSTEM_PYTHON)


@pytest.fixture(scope="session")
def netns() -> Iterator[str]:
    """A real network namespace as ``/proc/<pid>/ns/net`` (the ``ctr run --cni`` form)."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    path = f"/proc/{proc.pid}/ns/net"
    for _ in range(200):
        if os.path.exists(path) and os.readlink(path) != os.readlink("/proc/self/ns/net"):
            break
        time.sleep(0.01)
    else:
        proc.kill()
        proc.wait(timeout=5)
        pytest.fail("could not create a network namespace with unshare --net")
    yield path
    proc.kill()
    proc.wait(timeout=5)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for unix sockets (``sun_path`` holds 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fn-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def no_agent(sock_dir: Path) -> dict[str, Any]:
    """A plugin conf whose agent socket does not exist."""
    return {"type": "flatnet", "agentSocket": str(sock_dir / "absent.sock")}


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class StubAgent:
    """A unix socket server in a thread, stopped and removed by its fixture."""

    socket_path: Path
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def conf(self, **extra: Any) -> dict[str, Any]:
        return {"type": "flatnet", "agentSocket": str(self.socket_path), **extra}


def _read_request(rfile: Any) -> Recorded:
    request_line = rfile.readline(4096).decode("latin-1").split()
    headers: dict[str, str] = {}
    for _ in range(100):
        line = rfile.readline(4096).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = json.loads(rfile.read(length)) if length else None
    return Recorded(method=request_line[0], path=request_line[1], body=body)


def _serve(stub: StubAgent, handle: Callable[[Any], None]) -> Iterator[StubAgent]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            handle(self)

    server = socketserver.ThreadingUnixStreamServer(str(stub.socket_path), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive(), "stub agent thread leaked"


@pytest.fixture
def silent_agent(sock_dir: Path) -> Iterator[StubAgent]:
    """Accepts every connection, records the request, never answers (CNI-046)."""
    stub = StubAgent(sock_dir / "silent.sock")

    def handle(handler: socketserver.StreamRequestHandler) -> None:
        stub.requests.append(_read_request(handler.rfile))
        stub.release.wait(timeout=30)

    yield from _serve(stub, handle)


@pytest.fixture
def canned_agent(sock_dir: Path) -> Iterator[Callable[..., StubAgent]]:
    """Factory: a stub answering one canned HTTP error to every request."""
    stops: list[Iterator[StubAgent]] = []

    def start(status: int = 500, body: Any = None, *, raw: bytes | None = None) -> StubAgent:
        stub = StubAgent(sock_dir / f"canned{len(stops)}.sock")
        payload = raw if raw is not None else json.dumps(body).encode()

        def handle(handler: socketserver.StreamRequestHandler) -> None:
            stub.requests.append(_read_request(handler.rfile))
            head = f"HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            handler.wfile.write(head.encode() + payload)

        serving = _serve(stub, handle)
        stops.append(serving)
        return next(serving)

    yield start
    for serving in stops:
        for _ in serving:
            pass
