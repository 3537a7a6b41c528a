"""Addresses, AS numbers and timers of the one-machine fabric lab (``FLATNET_LAB_*``).

The defaults follow fabric-lab.md section 1.1: rack subnet 10.10.0.0/24 and
fd00:10::/64 behind ToR 1, pod pools 10.244.0.0/16 (/26 blocks) and fd00:244::/32
(/64 blocks), ToR AS 65000 and node N in AS 65000 + N. A second ToR (dual-homed racks)
gets the next uplink subnet. Nothing here is routed outside the lab's namespaces.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Uplink(BaseModel):
    """The subnet between one ToR and the nodes of the rack."""

    ipv4: IPv4Network
    ipv6: IPv6Network


class LabPool(BaseModel):
    """A pod pool the ToR accepts blocks of: inside ``cidr``, exactly ``block_prefixlen``."""

    cidr: IPv4Network | IPv6Network
    block_prefixlen: int = Field(ge=1, le=128)
    name: str = Field(default="", pattern=r"^([a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?)?$")
    """The pool's name in IPAM; empty: ``lab-v4`` / ``lab-v6`` by family."""
    on_demand: bool = False
    """Not one of the agents' default pools: a pod gets an address from it only when its
    network config names it, so its blocks are claimed by ADDs and returned when empty."""

    @property
    def ipam_name(self) -> str:
        return self.name or f"lab-v{self.cidr.version}"

    @model_validator(mode="after")
    def _fits(self) -> LabPool:
        if not self.cidr.prefixlen <= self.block_prefixlen <= self.cidr.max_prefixlen:
            raise ValueError(f"block length /{self.block_prefixlen} does not fit {self.cidr}")
        return self


def _uplinks() -> list[Uplink]:
    return [
        Uplink(ipv4=IPv4Network("10.10.0.0/24"), ipv6=IPv6Network("fd00:10::/64")),
        Uplink(ipv4=IPv4Network("10.10.1.0/24"), ipv6=IPv6Network("fd00:10:0:1::/64")),
    ]


def _pools() -> list[LabPool]:
    return [
        LabPool(cidr=IPv4Network("10.244.0.0/16"), block_prefixlen=26),
        LabPool(cidr=IPv6Network("fd00:244::/32"), block_prefixlen=64),
    ]


class LabSettings(BaseSettings):
    """Everything the lab builds is derived from these values."""

    model_config = SettingsConfigDict(env_prefix="FLATNET_LAB_", extra="forbid")

    name_prefix: str = Field(default="fl", pattern=r"^[a-z][a-z0-9]{0,3}$")
    """Start of every netns name the lab makes; a random suffix follows, so that labs and
    test runs on one machine never collide."""
    state_root: Path = Path("/run/flatnet-lab")
    """Where each lab keeps its state file, daemon configs, sockets, pid files and logs."""
    uplinks: list[Uplink] = Field(default_factory=_uplinks, min_length=1)
    """Rack subnets, one per ToR (the first for ToR 1, the second for a dual-homed rack)."""
    tor_host: int = Field(default=1, ge=1)
    """Host number of a ToR's address in its uplink subnet."""
    node_host_base: int = Field(default=10, ge=1)
    """Node N gets host number ``node_host_base + N`` in every uplink subnet."""
    tor_as: int = Field(default=65000, ge=1, le=4294967295)
    """AS number of the ToRs."""
    node_as_base: int = Field(default=65000, ge=1, le=4294967295)
    """Node N is in AS ``node_as_base + N`` (AS per node, all eBGP)."""
    pools: list[LabPool] = Field(default_factory=_pools, min_length=1)
    """Pod pools; the ToR import filter accepts exactly their blocks."""
    import_limit: int = Field(default=64, ge=1)
    """Most prefixes a ToR accepts from one session (max-prefix)."""
    import_limit_action: Literal["block", "restart", "disable"] = "block"
    """What BIRD does beyond the limit. FRR always tears the session down."""
    hold_time: int = Field(default=9, ge=3)
    """BGP hold time of the ToR's sessions, seconds."""
    graceful_restart: int = Field(default=120, ge=1, le=4095)
    """Graceful-restart time the ToR advertises and honours, seconds."""
    connect_retry: int = Field(default=5, ge=1)
    """BIRD's connect retry time, seconds."""
    daemon_start_timeout: float = Field(default=10.0, gt=0)
    """Seconds a ToR daemon may take to answer on its control socket."""
    daemon_stop_timeout: float = Field(default=5.0, gt=0)
    """Seconds between SIGTERM and SIGKILL when a lab daemon is stopped."""
    command_timeout: float = Field(default=10.0, gt=0)
    """Seconds one ``ip``, ``birdc`` or ``vtysh`` call may take."""
    watch_table: int = Field(default=4242, ge=256, le=65535)
    """Private routing table of the route watcher's readiness sentinel."""
    watch_sentinel: IPv4Network = IPv4Network("192.0.2.255/32")
    """Blackhole route the route watcher adds to ``watch_table`` to know it listens."""
    exabgp: Path | None = None
    """ExaBGP for the bare speaker; defaults to ``exabgp`` next to the running Python."""
    frr_user: str = "frr"
    """User FRR's daemons run as (FRR refuses root, fabric-lab.md section 10.3)."""
    frr_dir: Path = Path("/usr/lib/frr")
    """Where Debian installs ``zebra`` and ``bgpd``."""

    # -- the components (``flatnet lab up``) -------------------------------------------
    flatnet: Path | None = None
    """The ``flatnet`` command; defaults to the one next to the running Python."""
    cni_python: Path = Path("/usr/bin/python3")
    """Interpreter in the CNI plugin's shebang (``flatnet cni install --python``)."""
    network_name: str = Field(default="flatnet", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """CNI network name of the pods."""
    pod_namespace: str = "lab"
    """Kubernetes namespace the lab's pods claim to be in (``K8S_POD_NAMESPACE``)."""
    ipam_host: str = "127.0.0.1"
    """Address the lab's IPAM service listens on (loopback: nothing leaves the machine)."""
    ipam_port: int = Field(default=0, ge=0, le=65535)
    """TCP port of the IPAM service; 0 picks a free one."""
    ipam_start_timeout: float = Field(default=180.0, gt=0)
    """Seconds for IPAM to answer ``/readyz`` (initdb of the embedded PostgreSQL included)."""
    agent_start_timeout: float = Field(default=60.0, gt=0)
    """Seconds for a node agent to serve its socket and register with IPAM."""
    converge_timeout: float = Field(default=60.0, gt=0)
    """Seconds for every BGP session to come up and every held block to reach the ToR."""
    cni_timeout: float = Field(default=60.0, gt=0)
    """Seconds one CNI plugin call may take."""
    stop_timeout: float = Field(default=20.0, gt=0)
    """Seconds between SIGTERM and SIGKILL when an agent or the IPAM service is stopped."""
    agent_warm_spare: int = Field(default=8, ge=0)
    """The agents' ``warm_spare``: free addresses kept per default pool."""
    agent_block_hold_time: float = Field(default=60.0, ge=0)
    """The agents' ``block_hold_time``: seconds a block stays empty before it goes back."""
    agent_reconcile_interval: float = Field(default=30.0, gt=0)
    """The agents' ``reconcile_interval`` (a pass also returns blocks held long enough)."""
    agent_bgp_report_interval: float = Field(default=2.0, gt=0)
    """The agents' ``bgp.report_interval``: how often session state is checked for IPAM."""
    agent_log_level: Literal["debug", "info", "warning", "error"] = "info"
    """The agents' ``log_level``."""
    agent_extra: dict[str, Any] = Field(default_factory=dict)
    """Further ``AgentSettings`` values by field name (``{"claim_timeout": 5}``)."""

    @model_validator(mode="after")
    def _hosts_fit(self) -> LabSettings:
        for uplink in self.uplinks:
            if self.tor_host >= uplink.ipv4.num_addresses - 1:
                raise ValueError(f"tor_host does not fit {uplink.ipv4}")
        names = [p.ipam_name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names must be unique, got {names}")
        served = [p for p in self.pools if not p.on_demand]
        if not 1 <= len(served) <= 2 or len({p.cidr.version for p in served}) != len(served):
            raise ValueError("one or two default pools (not on_demand), at most one per family")
        return self

    def served_pools(self) -> list[LabPool]:
        """The agents' default pools (one address from each: dual stack)."""
        return [p for p in self.pools if not p.on_demand]

    def on_demand_pools(self) -> list[LabPool]:
        return [p for p in self.pools if p.on_demand]
