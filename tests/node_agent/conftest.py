"""Throwaway network namespaces for the netlink adapter's tests.

Every namespace is named ``fntest-<pid>-<n>`` and deleted at teardown, whatever
the test did. A "node" namespace plays the node: the adapter is always built
with ``host_netns`` pointing at it, so no test touches the real host namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.databases import fresh_database
from tests.need import need_binary, need_root
from tests.node_agent.world import world

__all__ = ["world"]

if TYPE_CHECKING:
    from tests.node_agent.lab import AgentProcess, IpamProcess, Pods

SYSTEM_PYTHON = "/usr/bin/python3"

NODE_V4 = IPv4Address("192.0.2.1")
NODE_V6 = IPv6Address("fd00:ffff::1")
_COUNTER = itertools.count()


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip`` and return its stdout."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Netns:
    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def ip(self, *args: str, check: bool = True) -> str:
        return ip("-n", self.name, *args, check=check)

    def link_names(self) -> set[str]:
        return _link_names(self.ip("-o", "link"))


def _link_names(ip_o_link: str) -> set[str]:
    return {line.split(":")[1].strip().split("@")[0] for line in ip_o_link.splitlines()}


def _host_footprint() -> tuple[set[str], str]:
    """Our links and routes in the namespace the test runner itself lives in."""
    links = {name for name in _link_names(ip("-o", "link")) if name.startswith("fn")}
    routes = ip("route", "show", "proto", "241") + ip("-6", "route", "show", "proto", "241")
    return links, routes


@pytest.fixture(autouse=True, scope="module")
def _real_host_untouched() -> Iterator[None]:
    """Fail the module if any test left a flatnet link or route in the real host netns."""
    if os.geteuid() != 0:
        yield
        return
    before = _host_footprint()
    yield
    assert _host_footprint() == before, "a test changed the real host namespace"


@pytest.fixture
def make_netns() -> Iterator[Callable[[], Netns]]:
    """Factory of fresh, empty namespaces; all are deleted at teardown."""
    need_root()
    need_binary("ip")
    made: list[Netns] = []

    def make() -> Netns:
        ns = Netns(f"fntest-{os.getpid()}-{next(_COUNTER)}")
        ip("netns", "add", ns.name)
        made.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    yield make
    for ns in made:
        ip("netns", "del", ns.name, check=False)


@pytest.fixture
def node(make_netns: Callable[[], Netns]) -> Netns:
    """A namespace playing the node, with its own addresses on ``lo``."""
    ns = make_netns()
    ns.ip("addr", "add", f"{NODE_V4}/32", "dev", "lo")
    ns.ip("addr", "add", f"{NODE_V6}/128", "dev", "lo")
    return ns


def in_netns(path: str, fn: Callable[[], socket.socket]) -> socket.socket:
    """Create a socket inside the netns at ``path`` (a thread joins it, then exits)."""
    made: list[socket.socket] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            made.append(fn())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return made[0]


def _checksum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def icmp_echo(netns_path: str, dst: str, *, attempts: int = 3, timeout: float = 1.0) -> bool:
    """Ping ``dst`` from the netns at ``netns_path``; True on an echo reply.

    A raw-socket ping in Python, because the test VM has no ``ping`` binary.
    """
    addr = ip_address(dst)
    v4 = addr.version == 4
    family = socket.AF_INET if v4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
    sock = in_netns(netns_path, lambda: socket.socket(family, socket.SOCK_RAW, proto))
    ident = os.getpid() & 0xFFFF
    with sock:
        for seq in range(attempts):
            header = struct.pack("!BBHHH", 8 if v4 else 128, 0, 0, ident, seq)
            payload = b"flatnet-test"
            if v4:  # the kernel fills in the ICMPv6 checksum, not the ICMPv4 one
                csum = _checksum(header + payload)
                header = struct.pack("!BBHHH", 8, 0, csum, ident, seq)
            sock.sendto(header + payload, (str(addr), 0))
            if _await_reply(sock, v4=v4, ident=ident, seq=seq, timeout=timeout):
                return True
    return False


def _await_reply(sock: socket.socket, *, v4: bool, ident: int, seq: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for _ in range(100):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            return False
        icmp = data[(data[0] & 0x0F) * 4 :] if v4 else data
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if kind == (0 if v4 else 129) and (rid, rseq) == (ident, seq):
            return True
    return False


# -- the agent's world: PostgreSQL, IPAM, agent processes, pods ------------------------


@pytest.fixture(scope="session")
def ipam_database(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="flatnet_agent", migrated=True) as url:
        yield url


@pytest.fixture(scope="session")
def ipam(ipam_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpamProcess]:
    """One real IPAM service for the session (tests use their own pools and nodes)."""
    from tests.node_agent.lab import IpamProcess

    service = IpamProcess(ipam_database, log_path=tmp_path_factory.mktemp("ipam") / "ipam.log")
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def plugin_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flatnet-cni")


@pytest.fixture
def agent_factory(node: Netns, ipam: IpamProcess) -> Iterator[Callable[..., AgentProcess]]:
    """Factory of agent processes on ``node``; each is stopped (by PID) at teardown."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.node_agent.lab import AgentProcess

    need_binary(SYSTEM_PYTHON)
    made: list[AgentProcess] = []
    dirs: list[Path] = []

    def make(
        *, pools: list[str] | None = None, ipam_url: str | None = None, **settings: Any
    ) -> AgentProcess:
        state = Path(tempfile.mkdtemp(prefix="fn-agent-", dir="/tmp"))
        dirs.append(state)
        agent = AgentProcess(
            node=node,
            ipam_url=ipam_url or ipam.url,
            pools=pools or [ipam.pool()],
            state_dir=state,
            settings=settings,
        )
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.kill() if agent.proc is not None and agent.proc.poll() is not None else agent.stop()
    for state in dirs:
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def pods_for(plugin_root: Path) -> Iterator[Callable[[AgentProcess], Pods]]:
    """Pods talking to a given agent through the real installed plugin."""
    from tests.cni.harness import Plugin
    from tests.node_agent.lab import Pods

    plugin = Plugin.build(plugin_root / uuid.uuid4().hex[:8], python=SYSTEM_PYTHON)
    made: list[Pods] = []

    def make(agent: AgentProcess) -> Pods:
        pods = Pods(plugin=plugin, agent=agent)
        made.append(pods)
        return pods

    yield make
    for pods in made:
        pods.cleanup()


@pytest.fixture
def agent(agent_factory: Callable[..., AgentProcess]) -> AgentProcess:
    """A started agent with one IPv4 pool of /28 blocks."""
    started = agent_factory()
    started.start()
    return started


@pytest.fixture
def pods(agent: AgentProcess, pods_for: Callable[[AgentProcess], Pods]) -> Pods:
    return pods_for(agent)


def _children() -> set[int]:
    found = set()
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.add(int(entry))
    return found


@pytest.fixture
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves a child process behind (session services excepted)."""
    before = _children()
    yield
    leaked: set[int] = set()
    for _ in range(100):
        leaked = _children() - before
        if not leaked:
            return
        time.sleep(0.05)
    for pid in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    raise AssertionError(f"test leaked child processes {sorted(leaked)}")
