"""A lab node's agent: ``flatnet agent run`` as a real process, configured by its environment.

The agent runs in the host namespace and plays the node through ``host_netns`` (its
netlink calls enter ``/run/netns/<node>``); its ExaBGP runs inside the node namespace,
so the BGP sessions leave from the node's own addresses. Everything of one node lives
in ``<lab>/<node>``: the agent's state, its socket, its IPAM token and its log.

The agent is recognised by its environment (``FLATNET_AGENT_STATE_DIR`` names the lab
directory), its ExaBGP by the pid file and config the speaker writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from flatnet.lab.errors import LabDaemonError
from flatnet.lab.procs import Tracked, base_environment, flatnet_command, spawn, tail
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import run
from flatnet.lab.topology import NodePlan

POLL = 0.1
"""Seconds between checks of a starting agent."""
ENV_PREFIX = "FLATNET_AGENT_"


def env_value(value: Any) -> str:
    """How pydantic-settings reads a value from the environment: text, or JSON."""
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value)


class NodeAgent:
    """The agent of one lab node (not started by the constructor)."""

    def __init__(
        self,
        *,
        node: NodePlan,
        directory: Path,
        settings: LabSettings,
        ipam_url: str,
        peers: list[dict[str, Any]],
    ) -> None:
        self.node = node
        self.directory = directory
        self.settings = settings
        self.ipam_url = ipam_url
        self.peers = peers

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def address(self) -> str:
        return str(self.node.links[0].ipv4.ip)

    @property
    def state_dir(self) -> Path:
        return self.directory / "agent"

    @property
    def socket(self) -> Path:
        return self.directory / "agent.sock"

    @property
    def token_file(self) -> Path:
        return self.directory / "ipam.token"

    @property
    def log(self) -> Path:
        return self.directory / "agent.log"

    def environment(self) -> dict[str, str]:
        s = self.settings
        values: dict[str, Any] = {
            "node_name": self.node.name,
            "node_ip": self.address,
            "asn": self.node.asn,
            "ipam_url": self.ipam_url,
            "ipam_token_file": str(self.token_file),
            "pools": [p.ipam_name for p in s.served_pools()],
            "extra_pools": [p.ipam_name for p in s.on_demand_pools()],
            "warm_spare": s.agent_warm_spare,
            "block_hold_time": s.agent_block_hold_time,
            "reconcile_interval": s.agent_reconcile_interval,
            "state_dir": str(self.state_dir),
            "socket_path": str(self.socket),
            "metrics_listen": None,  # /metrics is served on the socket; no TCP port to clash
            "host_netns": f"/run/netns/{self.node.netns}",
            "bgp_peers": self.peers,
            "bgp": {"report_interval": s.agent_bgp_report_interval},
            "log_level": s.agent_log_level,
        } | s.agent_extra
        env = {k: v for k, v in base_environment().items() if not k.startswith(ENV_PREFIX)}
        env |= {f"{ENV_PREFIX}{key.upper()}": env_value(v) for key, v in values.items()}
        return env

    # -- processes --------------------------------------------------------------------------

    def record(self, pid: int | None = None) -> Tracked:
        return Tracked(
            name=f"agent-{self.name}", marker=str(self.state_dir), pid=pid, in_environ=True
        )

    def exabgp(self) -> Tracked:
        """The agent's ExaBGP, through the pid file its speaker keeps."""
        bgp = self.state_dir / "bgp"
        return Tracked(
            name=f"exabgp-{self.name}",
            marker=str(bgp / "exabgp.conf"),
            pidfile=str(bgp / "exabgp.pid"),
        )

    def start(self) -> Tracked:
        """Start ``flatnet agent run``; returns its record (the caller saves it at once)."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = [str(flatnet_command(self.settings)), "agent", "run"]
        proc = spawn(argv, log=self.log, env=self.environment())
        return self.record(proc.pid)

    def wait_ready(self, record: Tracked) -> dict[str, Any]:
        """Wait until the agent answers on its socket and is registered; its status."""
        deadline = time.monotonic() + self.settings.agent_start_timeout
        while time.monotonic() < deadline:
            if record.gone():
                raise LabDaemonError(f"the agent of {self.name} exited: {tail(self.log, 10)}")
            try:
                status = self.status()
            except LabDaemonError:
                time.sleep(POLL)
                continue
            if status["ipam"]["registered"]:
                return status
            time.sleep(POLL)
        raise LabDaemonError(
            f"the agent of {self.name} did not register within "
            f"{self.settings.agent_start_timeout}s: {tail(self.log, 10)}"
        )

    # -- talking to it ----------------------------------------------------------------------

    def call(self, method: str, path: str) -> Any:
        """One request on the agent's socket (what the CNI plugin and the CLI use)."""
        return json.loads(self.request(method, path))

    def request(self, method: str, path: str) -> str:
        """One request on the agent's socket; the body as text (``/metrics``)."""
        transport = httpx.HTTPTransport(uds=str(self.socket))
        try:
            with httpx.Client(
                transport=transport, base_url="http://agent", timeout=self.settings.command_timeout
            ) as client:
                response = client.request(method, path)
        except httpx.HTTPError as exc:
            raise LabDaemonError(f"agent {self.name} {method} {path}: {exc}") from exc
        if response.status_code != 200:
            raise LabDaemonError(f"agent {self.name} {method} {path}: {response.status_code}")
        return response.text

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``, the document ``flatnet agent status -o json`` prints."""
        doc: dict[str, Any] = self.call("GET", "/v1/status")
        return doc

    def command(self, *args: str) -> str:
        """``flatnet agent <args> --socket <ours>``, the operator's way in; its stdout."""
        argv = [str(flatnet_command(self.settings)), "agent", *args, "--socket", str(self.socket)]
        return run(argv, timeout=self.settings.cni_timeout, env=base_environment())
