"""What the fabric end-to-end tests share: a lab per module, pings, markers, block returns.

A fabric (ToR, IPAM, agents, pods: :class:`flatnet.lab.fabric.Fabric`) takes seconds to
build, so each test module builds one and its tests share it; a test that disturbs it
(kills an agent, restarts the ToR, drains a node) puts it back and waits for it to
converge before it ends. Teardown checks that nothing is left: no namespace, no process.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from flatnet.lab import LabPool, LabSettings
from flatnet.lab.fabric import Fabric
from flatnet.lab.pods import Pod
from flatnet.lab.shell import alive, ip
from tests.lab.harness import LIMIT, need_lab, processes_mentioning, wait_for
from tests.need import need, need_binary

SMALL = "lab-small"
"""The on-demand pool: no agent claims its blocks ahead, so the first pod takes a new one."""
RECONCILE_EVERY = 0.3
"""Seconds between the reconcile passes a test asks for while a block goes back."""


def fabric_settings(**overrides: Any) -> LabSettings:
    """Lab settings for the tests: an on-demand pool of /28s beside the default pools, a
    one-second block hold time, and reconcile passes only when a test asks for one."""
    values: dict[str, Any] = {
        "pools": [
            LabPool(cidr=IPv4Network("10.244.0.0/17"), block_prefixlen=26, name="lab-v4"),
            LabPool(cidr=IPv6Network("fd00:244::/32"), block_prefixlen=64, name="lab-v6"),
            LabPool(
                cidr=IPv4Network("10.244.128.0/24"), block_prefixlen=28, name=SMALL, on_demand=True
            ),
        ],
        "agent_block_hold_time": 1.0,
        "agent_reconcile_interval": 3600.0,
        "agent_bgp_report_interval": 0.3,
    }
    return LabSettings(**(values | overrides))


def need_fabric(tor_kind: str) -> LabSettings:
    need_lab(tor_kind)
    need_binary("ping")
    settings = fabric_settings()
    need_binary(str(settings.cni_python))
    exabgp = Path(sys.executable).with_name("exabgp")
    need(exabgp.exists(), f"needs ExaBGP at {exabgp}")
    return settings


@contextmanager
def fabric_up(tor_kind: str, *, nodes: int = 2, pods_per_node: int = 1) -> Iterator[Fabric]:
    """A fabric for one module; brought down and checked to be gone afterwards."""
    settings = need_fabric(tor_kind)
    fabric = Fabric.up(
        settings,
        nodes=nodes,
        pods_per_node=pods_per_node,
        tor_kind=tor_kind,  # type: ignore[arg-type]
    )
    try:
        yield fabric
    finally:
        pids = [r.resolve() for r in fabric.lab.processes.values()]
        fabric.down()
        assert_gone(fabric, [p for p in pids if p is not None])


def assert_gone(fabric: Fabric, pids: list[int]) -> None:
    lab = fabric.lab
    names = set(ip("netns", "list", timeout=LIMIT).split())
    mine = {n for n in names if n.startswith(lab.topology.prefix)}
    assert not mine, f"namespaces left: {mine}"
    assert not processes_mentioning(str(lab.directory)), "a process of the lab is left"
    for pid in pids:  # agents are recognised by their environment, not their command line
        assert not alive(pid, marker=str(lab.directory), in_environ=True), f"pid {pid} left"
    assert not lab.directory.exists()


# -- pods and routes ------------------------------------------------------------------------


def pods_on(fabric: Fabric, node: str) -> list[Pod]:
    return [p for p in fabric.pods.values() if p.node == node and p.pool is None]


def ping_ttl(pod: Pod, address: str) -> int:
    """Ping once; the reply's TTL (hop limit). Asserts that the reply came."""
    argv = ["ip", "netns", "exec", pod.netns, "ping", "-n", "-c", "1", "-W", "2", address]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT, check=False)
    assert done.returncode == 0, f"{pod.name} -> {address}: {done.stdout}{done.stderr}"
    found = re.search(r"ttl=(\d+)", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


def routes_from(fabric: Fabric, node: str) -> dict[str, set[str]]:
    """The ToR's kernel routes through ``node``."""
    link = fabric.agents[node].node.links[0]
    mine = {str(link.ipv4.ip), str(link.ipv6.ip)}
    return {p: hops for p, hops in fabric.lab.routes().items() if hops & mine}


def return_blocks(fabric: Fabric, node: str, pool: str = SMALL) -> None:
    """Ask for reconcile passes until ``node`` holds no block of ``pool`` any more."""
    agent = fabric.agents[node]

    def returned() -> bool:
        agent.command("reconcile")
        if any(b["pool"] == pool for b in agent.status()["blocks"]):
            time.sleep(RECONCILE_EVERY)
            return False
        return True

    wait_for(returned, f"{node} to return its {pool} blocks")


def new_blocks(fabric: Fabric, node: str, before: set[str]) -> set[str]:
    return {b["cidr"] for b in fabric.agents[node].status()["blocks"]} - before


def family_hop(fabric: Fabric, node: str, prefix: str) -> str:
    link = fabric.agents[node].node.links[0]
    return str(link.ipv4.ip if ip_network(prefix).version == 4 else link.ipv6.ip)


# -- continuous ping ------------------------------------------------------------------------


@dataclass
class PingReport:
    sent: int
    answered: set[int] = field(default_factory=set)

    def lost(self) -> list[int]:
        """Unanswered sequence numbers, leaving out the last probe (it may have been in
        flight when the pinger was stopped)."""
        return [seq for seq in range(1, self.sent) if seq not in self.answered]


class Pinger:
    """``ping -i <interval>`` from a pod, in the background, until :meth:`stop`."""

    def __init__(self, pod: Pod, address: str, *, interval: float = 0.05) -> None:
        argv = ["ip", "netns", "exec", pod.netns, "ping", "-n", "-i", str(interval)]
        self._proc = subprocess.Popen(
            [*argv, "-W", "1", address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def stop(self) -> PingReport:
        self._proc.send_signal(signal.SIGINT)
        out, _ = self._proc.communicate(timeout=LIMIT)
        found = re.search(r"(\d+) packets transmitted", out)
        assert found, out
        answered = {int(s) for s in re.findall(r"icmp_seq=(\d+) ttl=", out)}
        return PingReport(sent=int(found.group(1)), answered=answered)

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=LIMIT)


# -- checks both ToR daemons must pass --------------------------------------------------------


def check_cross_node(fabric: Fabric) -> None:
    """Every pod reaches every pod of the other node, IPv4 and IPv6, through the ToR."""
    fabric.wait_converged()
    for a, b in (("node1", "node2"), ("node2", "node1")):
        for src in pods_on(fabric, a):
            for dst in pods_on(fabric, b):
                for address in dst.ips:
                    # pod -> its node -> ToR -> the other node -> pod: the reply crosses three
                    # routers (TTL 64 - 3). The nodes have no route to each other but the
                    # default one via the ToR, and the ToR sends no redirects.
                    assert ping_ttl(src, address) == 61, f"{src.name} -> {address}"
    routes = fabric.lab.routes()
    for name, agent in fabric.agents.items():
        for block in agent.status()["blocks"]:
            assert routes.get(block["cidr"]) == {family_hop(fabric, name, block["cidr"])}


def check_block_route(fabric: Fabric, *, node: str = "node1", other: str = "node2") -> None:
    """A pod of the on-demand pool takes a new block: when its ADD returns, ExaBGP has
    acknowledged the block on every session; the ToR routes it to the node; after the pod
    is gone and the hold time passed, the block goes back to IPAM and the route goes."""
    fabric.wait_converged()
    agent = fabric.agents[node]
    before = {b["cidr"] for b in agent.status()["blocks"]}
    with fabric.lab.watch() as watch:
        pod = fabric.add_pod(node, name=f"{node}-first-of-block", pool=SMALL)
        status = agent.status()
        (block,) = new_blocks(fabric, node, before)
        assert ip_address(pod.ip) in ip_network(block)
        assert block in status["announcer"]["announced"]
        ready_v4 = [b for b in status["blocks"] if "." in b["cidr"] and b["state"] == "ready"]
        v4 = next(p for p in status["announcer"]["peers"] if "." in p["peer"])
        assert v4["state"] == "up"
        assert v4["prefixes_acknowledged"] == v4["prefixes_sent"] == len(ready_v4)
        wait_for(
            lambda: fabric.lab.routes().get(block) == {family_hop(fabric, node, block)},
            f"{block} in the ToR's kernel table",
        )
        assert ping_ttl(pods_on(fabric, other)[0], pod.ip) == 61
        fabric.delete_pod(pod.name)
        return_blocks(fabric, node)
        wait_for(lambda: block not in fabric.lab.routes(), f"{block} to leave the ToR")
        assert block not in {b["cidr"] for b in fabric.ipam.held_blocks(node)}
    changes = [(e.deleted, e.prefix) for e in watch.events(proto=fabric.lab.proto)]
    assert changes == [(False, block), (True, block)]
