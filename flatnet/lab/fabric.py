"""The whole lab (``flatnet lab up``): ToR, IPAM, a node agent per node, and pods.

::

    host netns:  flatnet ipam serve (127.0.0.1, embedded PostgreSQL)
                 flatnet agent run  x N  (netlink into its node netns, HTTP to IPAM)
    <p>-tor1:    BIRD 2 or FRR 8.4, br0            <- every node's eth0 is bridged here
    <p>-nodeN:   ExaBGP of node N's agent, pod veths, /32 routes, blackholes per block
    <p>-nodeN-podK: one pod, eth0 wired by the flatnet CNI plugin

:meth:`Fabric.up` builds it in that order and records every process in the lab's state
file as soon as it exists, so ``Fabric.load(state).down()`` (``flatnet lab down``) cleans
up from any process, after a crash too. The fabric is *converged* when every agent is
registered, every BGP session is up and every block a node holds is in the ToR's kernel
table with that node as next hop: then any pod reaches any other.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from flatnet.lab.agents import NodeAgent
from flatnet.lab.errors import LabDaemonError, LabError
from flatnet.lab.ipam import IpamServer
from flatnet.lab.lab import Lab, TorKind
from flatnet.lab.pods import CniNode, Pod, new_pod
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import ip

POLL = 0.1
"""Seconds between convergence checks."""
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Fabric:
    def __init__(self, lab: Lab, ipam: IpamServer) -> None:
        self.lab = lab
        self.ipam = ipam
        self.settings: LabSettings = lab.settings
        self.agents = {
            node.name: NodeAgent(
                node=node,
                directory=lab.directory / node.name,
                settings=lab.settings,
                ipam_url=ipam.url,
                peers=lab.node_peers(node.name),
            )
            for node in lab.topology.nodes
        }
        self.cni = {
            name: CniNode(directory=a.directory / "cni", settings=a.settings, socket=a.socket)
            for name, a in self.agents.items()
        }

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def up(
        cls,
        settings: LabSettings,
        *,
        nodes: int = 2,
        pods_per_node: int = 2,
        tor_kind: TorKind = "bird",
        say: Say = _quiet,
    ) -> Fabric:
        """Bring everything up; on any failure take down what was made, then re-raise."""
        lab = Lab.up(settings, nodes=nodes, tor_kind=tor_kind)
        say(f"lab {lab.topology.prefix}: namespaces made, {tor_kind} runs in the ToR netns")
        try:
            ipam = IpamServer.create(directory=lab.directory / "ipam", settings=settings)
            lab.fabric = {"ipam": ipam.to_json(), "pods": []}
            fabric = cls(lab, ipam)
            fabric._start_ipam(say)
            for name in fabric.agents:
                fabric.cni[name].install()
                fabric.start_agent(name)
                say(f"{name}: agent runs, CNI plugin installed in {fabric.cni[name].directory}")
            for name in fabric.agents:
                for _ in range(pods_per_node):
                    pod = fabric.add_pod(name)
                    say(f"{pod.name}: {', '.join(pod.ips)} in {pod.netns_path}")
            fabric.wait_converged()
            say("converged: every block is in the ToR's kernel table")
            return fabric
        except BaseException:
            lab.down()
            raise

    def _start_ipam(self, say: Say) -> None:
        self.lab.track(self.ipam.postgres())  # its pid file appears once it runs
        self.ipam.write_tokens({name: a.token_file for name, a in self.agents.items()})
        record = self.ipam.start()
        self.lab.track(record)
        self.ipam.wait_ready(record)
        self.ipam.create_pools(self.settings.pools)
        say(f"IPAM serves {self.ipam.url} (pid {record.pid}); pools created")

    @classmethod
    def load(cls, state_file: Path) -> Fabric:
        lab = Lab.load(state_file)
        if "ipam" not in lab.fabric:
            raise LabError(f"{state_file} is a bare lab, without IPAM, agents or pods")
        return cls(lab, IpamServer.from_json(lab.fabric["ipam"], lab.settings))

    def down(self) -> None:
        self.lab.down()

    # -- agents -----------------------------------------------------------------------------

    def start_agent(self, node: str) -> dict[str, Any]:
        """Start the node's agent (again) and wait until it registered; its status."""
        agent = self.agents[node]
        self.lab.track(agent.exabgp())  # before the agent: ended after it by ``down``
        record = agent.start()
        self.lab.track(record)
        return agent.wait_ready(record)

    def stop_agent(self, node: str) -> None:
        """SIGTERM: the agent stops its ExaBGP without withdrawing (graceful restart)."""
        self.agents[node].record(self._pid(f"agent-{node}")).stop(grace=self.settings.stop_timeout)

    def kill_agent(self, node: str) -> None:
        """SIGKILL the agent (its ExaBGP gets SIGTERM from the kernel: PR_SET_PDEATHSIG)."""
        self._kill(self.agents[node].record(self._pid(f"agent-{node}")).resolve())

    def kill_exabgp(self, node: str) -> int:
        """SIGKILL the node's ExaBGP only; returns its PID."""
        pid = self.agents[node].exabgp().resolve()
        if pid is None:
            raise LabDaemonError(f"{node} has no ExaBGP running")
        self._kill(pid)
        return pid

    def _pid(self, name: str) -> int | None:
        record = self.lab.processes.get(name)
        return None if record is None else record.pid

    @staticmethod
    def _kill(pid: int | None) -> None:
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)  # our child (tests): no zombie

    # -- pods -------------------------------------------------------------------------------

    @property
    def pods(self) -> dict[str, Pod]:
        return {p["name"]: Pod.from_json(p) for p in self.lab.fabric.get("pods", [])}

    def add_pod(self, node: str, *, name: str | None = None, pool: str | None = None) -> Pod:
        """A new pod namespace on ``node``, added through the CNI plugin."""
        return self.attach(self.new_pod(node, name=name, pool=pool))

    def new_pod(self, node: str, *, name: str | None = None, pool: str | None = None) -> Pod:
        """Make the pod's namespace (recorded first: ``down`` deletes it whatever happens)."""
        prefix = f"{self.lab.topology.prefix}-"
        taken = {n.removeprefix(prefix) for n in self.lab.pod_namespaces}
        if name is None:
            candidates = (f"{node}-pod{k}" for k in range(1, len(taken) + 2))
            name = next(c for c in candidates if c not in taken)
        elif name in taken:
            raise LabError(f"pod {name} exists already")
        netns = f"{self.lab.topology.prefix}-{name}"
        self.lab.pod_namespaces.append(netns)
        self.lab.save()
        timeout = self.settings.command_timeout
        ip("netns", "add", netns, timeout=timeout)
        ip("-n", netns, "link", "set", "lo", "up", timeout=timeout)
        return new_pod(name=name, node=node, netns=netns, pool=pool)

    def attach(self, pod: Pod) -> Pod:
        """CNI ADD of a pod made by :meth:`new_pod`; on failure its namespace goes too."""
        try:
            pod = self.cni[pod.node].add(pod)
        except BaseException:
            ip("netns", "del", pod.netns, timeout=self.settings.command_timeout, check=False)
            self.lab.pod_namespaces.remove(pod.netns)
            self.lab.save()
            raise
        self.lab.fabric["pods"] = [*self.lab.fabric.get("pods", []), pod.to_json()]
        self.lab.save()
        return pod

    def delete_pod(self, name: str) -> None:
        """CNI DEL, then the namespace goes."""
        pod = self.pods[name]
        self.cni[pod.node].delete(pod)
        ip("netns", "del", pod.netns, timeout=self.settings.command_timeout, check=False)
        self.lab.pod_namespaces.remove(pod.netns)
        self.lab.fabric["pods"] = [p for p in self.lab.fabric["pods"] if p["name"] != name]
        self.lab.save()

    def ping(self, pod: Pod | str, address: str, *, count: int = 1, wait: float = 2.0) -> bool:
        source = self.pods[pod] if isinstance(pod, str) else pod
        argv = ["ip", "netns", "exec", source.netns, "ping", "-n", "-q", "-c", str(count)]
        argv += ["-i", "0.2", "-W", str(wait), address]
        done = subprocess.run(argv, capture_output=True, timeout=count * wait + 10, check=False)
        return done.returncode == 0

    # -- convergence ------------------------------------------------------------------------

    def expected_routes(self) -> dict[str, set[str]]:
        """Every ready block of every agent, with the next hop the ToR must have for it."""
        expected: dict[str, set[str]] = {}
        for agent in self.agents.values():
            link = agent.node.links[0]
            for block in agent.status()["blocks"]:
                if block["state"] != "ready":
                    continue
                v4 = ip_network(block["cidr"]).version == 4
                hop = str(link.ipv4.ip if v4 else link.ipv6.ip)
                expected.setdefault(block["cidr"], set()).add(hop)
        return expected

    def converged(self) -> bool:
        for agent in self.agents.values():
            status = agent.status()
            peers = status["announcer"]["peers"]
            if not status["ipam"]["registered"] or not peers:
                return False
            if any(p["state"] != "up" for p in peers):
                return False
        routes = self.lab.routes()
        return all(routes.get(cidr, set()) >= hops for cidr, hops in self.expected_routes().items())

    def wait_converged(self, *, limit: float | None = None) -> None:
        limit = self.settings.converge_timeout if limit is None else limit
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with contextlib.suppress(LabError, OSError):
                if self.converged():
                    return
            time.sleep(POLL)
        raise LabDaemonError(f"the fabric did not converge within {limit}s")
