"""BGP settings: one :class:`BgpPeer` per ToR session and the speaker's :class:`BgpSettings`.

Both are plain pydantic models nested in ``AgentSettings`` (``bgp_peers`` and ``bgp``), so
every timing constant of the speaker lives here rather than in the code that uses it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from pydantic import BaseModel, Field


class BgpPeer(BaseModel):
    """One ToR session. A dual-homed node lists two."""

    address: IPv4Address | IPv6Address
    """The ToR's peering address."""
    peer_as: int = Field(ge=1, le=4294967295)
    """The ToR's AS number."""
    local_as: int = Field(ge=1, le=4294967295)
    """The node's AS number (per rack or per node, as the fabric decides)."""
    local_address: IPv4Address | IPv6Address | None = None
    """Source address of the session; defaults to the node IP."""
    router_id: IPv4Address | None = None
    """BGP router id; defaults to the node's IPv4 address."""
    hold_time: int = Field(default=9, ge=3, le=65535)
    """BGP hold time in seconds."""
    graceful_restart: int = Field(default=120, ge=0, le=4095)
    """Graceful-restart time in seconds advertised to the ToR (0 disables it)."""
    md5_password_file: Path | None = None
    """File holding the TCP MD5 password for this session, if the ToR requires one."""
    families: list[str] = Field(default_factory=lambda: ["ipv4 unicast", "ipv6 unicast"])
    """Address families negotiated on the session."""
    next_hop_ipv4: IPv4Address | None = None
    """Next hop announced for IPv4 blocks; defaults to the session's IPv4 local address,
    else the node's IPv4 address."""
    next_hop_ipv6: IPv6Address | None = None
    """Next hop announced for IPv6 blocks; defaults to the session's IPv6 local address,
    else the node's IPv6 address."""


class BgpSettings(BaseModel):
    """How the agent runs and drives its ExaBGP speaker."""

    exabgp: Path | None = None
    """The ExaBGP executable; defaults to ``exabgp`` next to the running Python (the venv)."""
    ack_timeout: float = Field(default=5.0, gt=0)
    """Seconds ``announce``/``withdraw``/``sync`` wait for ExaBGP's acknowledgements,
    including the time ExaBGP needs to come back after a restart."""
    first_sync_timeout: float = Field(default=30.0, gt=0)
    """After start, seconds to wait for the daemon's first ``sync`` before End-of-RIB is sent
    anyway (End-of-RIB ends graceful restart at the ToR, which then drops stale routes)."""
    depart_settle: float = Field(default=0.5, ge=0)
    """Seconds between the acknowledged withdraw to a ToR that is no longer a peer and
    ExaBGP's restart: ExaBGP's ``done`` means queued, not yet on the wire."""
    restart_backoff_min: float = Field(default=0.5, gt=0)
    """First delay before ExaBGP is started again after it died."""
    restart_backoff_max: float = Field(default=30.0, gt=0)
    """Upper bound of the doubling restart delay."""
    restart_backoff_reset: float = Field(default=60.0, gt=0)
    """An ExaBGP that ran this many seconds restarts with the shortest delay again."""
    stop_timeout: float = Field(default=5.0, gt=0)
    """Seconds between SIGTERM and SIGKILL when ExaBGP is stopped."""
    batch_size: int = Field(default=256, ge=1, le=4096)
    """Prefixes per ``announce attributes ... nlri`` line when many are sent at once."""
    bridge_backlog: int = Field(default=10000, ge=100)
    """Lines the API bridge keeps while the agent is not connected (oldest dropped first)."""
    bridge_retry: float = Field(default=0.2, gt=0)
    """Seconds between the API bridge's attempts to connect to the agent."""
    bridge_exit_grace: float = Field(default=1.0, gt=0)
    """Seconds the bridge may spend handing its last lines to the agent after ExaBGP exits."""
    close_grace: float = Field(default=1.0, gt=0)
    """Seconds the agent's reader may take to see EOF when the API channel is closed."""
    stale_poll: float = Field(default=0.05, gt=0)
    """Seconds between checks that an ExaBGP left by a previous agent has exited."""
    log_tail: int = Field(default=50, ge=1)
    """ExaBGP output lines kept to be logged when it exits unexpectedly."""
    log_level: str = "INFO"
    """ExaBGP's own log level (``exabgp.log.level``)."""
    report_interval: float = Field(default=5.0, gt=0)
    """Seconds between checks of the session state reported to IPAM; a change is sent at
    the next check (``PUT /v1/nodes/{name}/bgp-sessions``)."""
    report_refresh: float = Field(default=60.0, gt=0)
    """Seconds after which an unchanged session state is reported again, so that IPAM's
    ``reported_at`` shows the fabric controller that the report is current."""
