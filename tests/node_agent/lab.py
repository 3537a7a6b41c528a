"""The real pieces the agent tests run against: IPAM, the agent process, pods.

* :class:`IpamProcess` - ``python -m ipam_service`` on a throwaway database of the
  embedded PostgreSQL, on a free port; it can be stopped and started again on the
  same port (the IPAM-down test).
* :class:`AgentProcess` - ``flatnet agent run`` with settings in its environment,
  wiring pods into a test-made node namespace (``host_netns``); ended by PID.
* :class:`Pods` - throwaway pod namespaces and the real ``flatnet`` CNI executable,
  installed with ``flatnet cni install`` and run as libcni runs it
  (``tests/cni/harness.py``).

Every name carries a random suffix so parallel runs on one machine do not collide.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cni.harness import Plugin, Run
from tests.node_agent.conftest import Netns, ip

FLATNET = str(Path(sys.executable).with_name("flatnet"))
SYSTEM_PYTHON = "/usr/bin/python3"
_SUBNETS = itertools.count()
# 10.64.0.0/10 holds 1,024 /20s (second octet 64..127); each test process starts
# at a PID-dependent offset so two concurrent runs rarely share a subnet.
_V4_SLOTS = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Any, *, seconds: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns a truthy value; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    for _ in range(100_000):
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def unique_cidrs(pid: int | None = None) -> tuple[str, str]:
    """A fresh IPv4 /20 and IPv6 /56 for one test's pools (no overlap between tests)."""
    start = ((os.getpid() if pid is None else pid) % 64) * 16
    n = (next(_SUBNETS) + start) % _V4_SLOTS
    return f"10.{64 + n // 16}.{(n % 16) * 16}.0/20", f"fd00:{n:x}::/56"


@dataclass
class IpamProcess:
    database_url: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = os.environ | {
            "FLATNET_DATABASE_URL": self.database_url,
            "FLATNET_AUTH": "off",
            "FLATNET_PORT": str(self.port),
        }
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ipam_service"], env=env, stdout=log, stderr=log
        )
        wait_for(self._ready, seconds=60, what="IPAM to answer /readyz")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"IPAM exited with {self.proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}{path}", timeout=10, **kwargs)
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()

    def pool(
        self, *, family: int = 4, prefixlen: int | None = None, size: int | None = None
    ) -> str:
        """Create a pool on fresh addresses (``size``: its prefix length); returns its name."""
        v4, v6 = unique_cidrs()
        name = f"p{uuid.uuid4().hex[:10]}"
        cidr, default = (v4, 28) if family == 4 else (v6, 120)
        if size is not None:
            cidr = str(ipaddress.ip_network(f"{cidr.split('/')[0]}/{size}"))
        block = prefixlen if prefixlen is not None else default
        self.call(
            "POST", "/v1/pools", json={"name": name, "cidrs": [cidr], "block_prefixlen": block}
        )
        return name

    def history(self, ip: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", f"/v1/audit/ips/{ip}/history")["items"]
        return items

    def held_blocks(self, node: str) -> list[str]:
        page = self.call("GET", "/v1/blocks", params={"node": node, "state": "held"})
        return sorted(b["cidr"] for b in page["items"])


@dataclass
class AgentProcess:
    """``flatnet agent run`` for one node namespace."""

    node: Netns
    ipam_url: str
    pools: list[str]
    state_dir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"node-{uuid.uuid4().hex[:8]}")
    node_ip: str = field(
        default_factory=lambda: str(
            ipaddress.IPv4Address("198.18.0.0") + int(uuid.uuid4().int % 131070) + 1
        )
    )
    """Unique per agent: IPAM refuses two live nodes with one node IP."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.state_dir / "agent.sock"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "agent.log"

    def env(self) -> dict[str, str]:
        values: dict[str, Any] = {
            "node_name": self.name,
            "node_ip": self.node_ip,
            "ipam_url": self.ipam_url,
            "pools": json.dumps(self.pools),
            "state_dir": str(self.state_dir),
            "socket_path": str(self.socket),
            "host_netns": self.node.path,
            "metrics_listen": "null",
            "ipam_retry_max": "1",
            "reconcile_interval": "3600",
        } | self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLATNET_AGENT_")}
        for key, value in values.items():
            if value is None:
                continue
            env[f"FLATNET_AGENT_{key.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value)
            )
        return env

    def start(self, *, wait_registered: bool = True) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [FLATNET, "agent", "run"], env=self.env(), stderr=log, stdout=log
            )
        wait_for(self._serving, what="the agent socket")
        if wait_registered:
            wait_for(lambda: self.status()["ipam"]["registered"], what="registration")

    def _serving(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"agent exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}"
            )
        if not self.socket.exists():
            return False
        with contextlib.suppress(httpx.HTTPError):
            return self.call("GET", "/healthz").get("ok") is True
        return False

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://agent", timeout=30) as client:
            response = client.request(method, path, **kwargs)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.call("GET", "/v1/status")
        return doc

    def reconcile(self) -> dict[str, Any]:
        report: dict[str, Any] = self.call("POST", "/v1/reconcile")
        return report

    def settle(self) -> dict[str, Any]:
        """Wait until no veth deletion is pending and the outbox is empty."""
        return wait_for(
            lambda: (
                (s := self.status())["links_pending_delete"] == 0
                and s["outbox"]["depth"] == 0
                and s
            ),
            what="pending veth deletions and the outbox to drain",
        )

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            proc.kill()
            proc.wait(timeout=5)
            tail = self.log_path.read_text()[-6000:]
            raise AssertionError(
                f"the agent did not stop on SIGTERM within 30 s:\n{tail}"
            ) from None

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)

    def allocations(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.status()["allocations"]
        return rows


@dataclass
class Pods:
    """Pod namespaces plus the installed plugin, talking to one agent."""

    plugin: Plugin
    agent: AgentProcess
    made: list[Netns] = field(default_factory=list)
    network: str = "flatnet"

    def netns(self) -> Netns:
        ns = Netns(f"fnpod-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        ip("netns", "add", ns.name)
        self.made.append(ns)
        return ns

    def conf(self, **extra: Any) -> dict[str, Any]:
        return {"type": "flatnet", "agentSocket": str(self.agent.socket), **extra}

    def run(
        self,
        command: str,
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        **kw: Any,
    ) -> Run:
        conf = kw.pop("conf", None) or self.conf()
        kw.setdefault("name", self.network)
        return self.plugin.run(
            command, conf, container_id=container_id, netns=netns, ifname=ifname, **kw
        )

    def add(self, ns: Netns | None = None, **kw: Any) -> tuple[Netns, str, Run]:
        """ADD a fresh container in ``ns`` (a new netns by default); asserts success."""
        ns = ns or self.netns()
        container_id = kw.pop("container_id", None) or uuid.uuid4().hex
        run = self.run("ADD", container_id=container_id, netns=ns.path, **kw)
        assert run.rc == 0, run.stdout + run.stderr
        return ns, container_id, run

    def cleanup(self) -> None:
        for ns in self.made:
            ip("netns", "del", ns.name, check=False)
        self.made.clear()


def our_links(node: Netns) -> set[str]:
    return {name for name in node.link_names() if name.startswith("fn")}


def our_routes(node: Netns, *, proto: str = "241") -> list[str]:
    out = node.ip("route", "show", "proto", proto) + node.ip("-6", "route", "show", "proto", proto)
    return [line for line in out.splitlines() if line.strip()]


def pod_ips(run: Run) -> list[str]:
    return [entry["address"].split("/")[0] for entry in run.out["ips"]]


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
