"""Settings of the route collector and drift report (nested in ``ControllerSettings``).

Environment: ``FLATNET_CONTROLLER_COLLECTOR__<FIELD>``; lists and nested models are JSON,
for example ``FLATNET_CONTROLLER_COLLECTOR__TORS='[{"name": "tor1", "asn": 65000,
"addresses": ["10.10.0.1"]}]'``.
"""

from __future__ import annotations

import sys
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


def _default_exabgp() -> Path:
    return Path(sys.executable).with_name("exabgp")


class TorPeer(BaseModel):
    """One ToR the collector peers with. A ToR with an IPv4 and an IPv6 session lists both."""

    name: str = Field(min_length=1, max_length=63)
    """The ToR's name, as drift entries and metrics show it."""
    asn: int = Field(ge=1, le=4294967295)
    """The ToR's AS number."""
    addresses: list[IPAddress] = Field(min_length=1, max_length=8)
    """Addresses the ToR connects from (one BGP session each)."""
    rack: str | None = None
    """Rack the ToR serves. Nodes whose rack label names it are expected on this ToR;
    a ToR without a rack (or a node without a rack label) is expected to carry every block."""
    md5_password_file: Path | None = None
    """File with the TCP MD5 password of these sessions, if the ToR signs them."""


class CollectorSettings(BaseModel):
    """The receive-only route collector that peers with every ToR, and the drift report."""

    enabled: bool = False
    """Run the collector (an ExaBGP process in passive mode with add-path)."""
    exabgp: Path = Field(default_factory=_default_exabgp)
    """The ExaBGP 5.0 executable (default: the one installed next to this Python)."""
    python: Path = Field(default_factory=lambda: Path(sys.executable))
    """Python that runs the relay process ExaBGP spawns (stdlib only)."""
    state_dir: Path = Path("/run/flatnet/collector")
    """Directory for the rendered ExaBGP config, the relay socket and the pid file."""
    netns: str = ""
    """Run ExaBGP inside this named network namespace (``ip netns exec``); empty: our own."""
    router_id: IPv4Address = IPv4Address("10.10.0.100")
    """BGP router id of the collector."""
    local_as: int = Field(default=65100, ge=1, le=4294967295)
    """The collector's AS number (the ToRs peer with it as an external neighbour)."""
    listen_addresses: list[IPAddress] = Field(default_factory=list, max_length=8)
    """Local addresses the ToRs connect to, one per address family in use."""
    listen_port: int = Field(default=179, ge=1, le=65535)
    """TCP port the collector listens on."""
    tors: list[TorPeer] = Field(default_factory=list, max_length=1024)
    """Every ToR whose RIB is collected."""
    families: list[str] = Field(default_factory=lambda: ["ipv4 unicast", "ipv6 unicast"])
    """Address families asked for on every session."""
    pod_cidrs: list[IPNetwork] = Field(default_factory=list, max_length=256)
    """Address space always kept in the RIB, on top of the IPAM pools the report learns."""
    rack_label: str = "topology.flatnet.io/rack"
    """Node label naming a node's rack (matched against ``TorPeer.rack``)."""
    hold_time: int = Field(default=30, ge=3, le=65535)
    """Hold time in seconds offered to the ToRs."""
    graceful_restart: int = Field(default=120, ge=0, le=4095)
    """Graceful-restart time advertised; FRR answers route refresh only to GR peers."""
    stale_seconds: float = Field(default=120.0, ge=0)
    """How long a ToR's paths are kept, marked stale, after its session drops
    (the ToR keeps forwarding on them under graceful restart). 0 clears them at once."""
    sync_timeout_seconds: float = Field(default=30.0, gt=0)
    """After session up (or a route refresh), treat the view as complete after this long
    even if no End-of-RIB arrived."""
    refresh_interval_seconds: float = Field(default=3600.0, ge=0)
    """Ask every ToR to resend its table this often, and sweep what it no longer has (0: never)."""
    report_interval_seconds: float = Field(default=30.0, gt=0)
    """How often the drift report (and its metrics) is recomputed in the background."""
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    """First delay before ExaBGP is restarted after it exits."""
    restart_backoff_max_seconds: float = Field(default=60.0, gt=0)
    """Longest delay between restarts (the delay doubles up to this)."""
    restart_stable_seconds: float = Field(default=60.0, gt=0)
    """A run this long resets the restart delay to its first value."""
    stop_timeout_seconds: float = Field(default=5.0, gt=0)
    """Time ExaBGP gets to exit after SIGTERM before it is killed."""
    relay_backlog_lines: int = Field(default=10_000, ge=100)
    """Lines the relay keeps while the controller is not connected (oldest dropped first)."""
    relay_retry_seconds: float = Field(default=0.2, gt=0)
    """How often the relay tries to reach the controller's socket while it is away."""
    relay_flush_seconds: float = Field(default=1.0, gt=0)
    """Time the relay spends handing over its last lines once ExaBGP has gone."""
    exabgp_log_level: str = "INFO"
    """ExaBGP's own log level (its log lines are re-logged by the controller)."""

    # -- the ToR side, as generated ToR configs write it (GET /v1/racks/{rack}/tor-config) --
    tor_connect_retry_seconds: int = Field(default=5, ge=1, le=65535)
    """Seconds between a ToR's attempts to reach the collector (which never dials out), so
    a restarted collector is back within seconds (BIRD's default is 120)."""
    tor_error_wait_seconds: int = Field(default=5, ge=1, le=65535)
    """First wait of a BIRD ToR after the collector session failed (BIRD's default is 60)."""
    tor_error_wait_max_seconds: int = Field(default=30, ge=1, le=65535)
    """Longest such wait (it doubles on repeated failures; BIRD's default is 300)."""
    tor_multihop: int = Field(default=0, ge=0, le=255)
    """0: the collector sits on a network the ToR is directly connected to. Otherwise the
    TTL of a multihop eBGP session (the collector routed away from the ToR)."""

    @model_validator(mode="after")
    def _check_peering(self) -> CollectorSettings:
        names = [t.name for t in self.tors]
        if len(set(names)) != len(names):
            raise ValueError("collector.tors: ToR names must be unique")
        addresses = [a for t in self.tors for a in t.addresses]
        if len(set(addresses)) != len(addresses):
            raise ValueError("collector.tors: a ToR address appears twice")
        versions = {a.version for a in self.listen_addresses}
        if len(versions) != len(self.listen_addresses):
            raise ValueError("collector.listen_addresses: at most one address per family")
        if self.enabled:
            for address in addresses:
                if address.version not in versions:
                    raise ValueError(
                        f"collector.listen_addresses has no IPv{address.version} address "
                        f"for the session with {address}"
                    )
        if self.restart_backoff_max_seconds < self.restart_backoff_seconds:
            raise ValueError("collector.restart_backoff_max_seconds is below the first delay")
        if self.tor_error_wait_max_seconds < self.tor_error_wait_seconds:
            raise ValueError("collector.tor_error_wait_max_seconds is below the first wait")
        return self

    def local_address(self, peer: IPAddress) -> IPAddress:
        """The listen address of ``peer``'s family."""
        for address in self.listen_addresses:
            if address.version == peer.version:
                return address
        raise ValueError(f"no IPv{peer.version} listen address for {peer}")
