"""Settings of the node agent (``AgentSettings``), from ``FLATNET_AGENT_*`` or a file.

Precedence, highest first: constructor arguments, environment variables, the
``--config`` file (TOML or JSON, chosen by suffix), then the defaults below. Lists
and objects are JSON in the environment (``FLATNET_AGENT_POOLS='["a","b"]'``);
``null`` unsets an optional setting (``FLATNET_AGENT_METRICS_LISTEN=null``). Every
timing constant the agent uses lives here; none is written inline elsewhere.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ipam_service.schemas import NodeUpsert
from node_agent.bgp.settings import BgpPeer, BgpSettings

NODE_NAME_RE = r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
POOL_NAME_RE = r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$"


class AgentSettings(BaseSettings):
    """Everything one node agent can be told. Built once in ``main()`` and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="FLATNET_AGENT_",
        extra="forbid",
        env_nested_delimiter="__",
        env_parse_none_str="null",
    )

    # -- identity --------------------------------------------------------------------
    node_name: str = Field(pattern=NODE_NAME_RE, max_length=253)
    """Name the node registers under in IPAM (the Kubernetes node name)."""
    node_ip: IPv4Address | IPv6Address
    """The node's fabric address, registered with IPAM and used as BGP next hop."""
    node_labels: dict[str, str] = Field(default_factory=dict)
    """Labels sent with the registration; IPAM picks topology subnets by them."""
    rack: str | None = None
    """The node's rack; added to ``node_labels`` under ``rack_label``."""
    rack_label: str = "topology.flatnet.io/rack"
    """Label key that carries ``rack``."""
    asn: int | None = Field(default=None, ge=1, le=4294967295)
    """The node's own AS number, registered with IPAM when set."""

    # -- IPAM --------------------------------------------------------------------------
    ipam_url: str = "http://127.0.0.1:8470"
    """Base URL of the central IPAM service."""
    ipam_token: SecretStr | None = None
    """Bearer token with role ``node:<node_name>``; prefer ``ipam_token_file``."""
    ipam_token_file: Path | None = None
    """File holding the bearer token (read once at start)."""
    ipam_timeout: float = Field(default=5.0, gt=0)
    """Seconds for one IPAM HTTP request, connect included."""
    ipam_retry_min: float = Field(default=0.5, gt=0)
    """First back-off, in seconds, after a failed IPAM call (registration, claims, outbox)."""
    ipam_retry_max: float = Field(default=30.0, gt=0)
    """Longest back-off, in seconds, between IPAM retries."""

    # -- fabric controller (BGP peers) ---------------------------------------------------
    controller_url: str | None = None
    """Base URL of the fabric controller. When set, the agent takes its ToR sessions from
    ``GET /v1/nodes/{node_name}/bgp`` at start instead of ``bgp_peers`` (which are used
    only if the controller gives none within ``controller_wait``), and follows changes
    every ``controller_refresh`` seconds."""
    controller_token_file: Path | None = None
    """File holding the bearer token for the controller (role ``node:<node_name>``)."""
    controller_timeout: float = Field(default=5.0, gt=0)
    """Seconds for one request to the controller, connect included."""
    controller_wait: float = Field(default=120.0, gt=0)
    """Seconds the start may spend asking the controller (it may not know the node or
    its rack yet) before falling back to ``bgp_peers``, or failing without them."""
    controller_retry_min: float = Field(default=0.5, gt=0)
    """First back-off, in seconds, between two questions to the controller."""
    controller_retry_max: float = Field(default=10.0, gt=0)
    """Longest back-off, in seconds, between two questions to the controller."""
    controller_refresh: float = Field(default=30.0, ge=0)
    """Seconds between two questions to the controller while the agent runs; when the
    rack's sessions changed, the speaker switches to them. 0: only ask at start."""

    # -- pools and blocks ------------------------------------------------------------
    pools: list[str] = Field(default_factory=lambda: ["default"], min_length=1, max_length=2)
    """Pools an ADD allocates from when its netconf names none: one address from each,
    so one IPv4 and one IPv6 pool give dual stack. The first is the default pool."""
    extra_pools: list[str] = Field(default_factory=list)
    """Further pools a netconf may name (``"pool": "a"`` or ``"a,b"``)."""
    warm_spare: int = Field(default=8, ge=0)
    """Free addresses kept per pool: below this a block is claimed in the background."""
    block_hold_time: float = Field(default=600.0, ge=0)
    """Seconds a block must stay empty before it is returned to IPAM."""
    ip_cooldown: float = Field(default=30.0, ge=0)
    """Seconds a released address rests before it is handed out again."""
    claim_timeout: float = Field(default=10.0, gt=0)
    """Seconds an ADD waits for a block claim when its pool has no free address."""

    # -- local state and API ---------------------------------------------------------
    socket_path: Path = Path("/run/flatnet/agent.sock")
    """Unix socket of the local API the CNI plugin calls."""
    socket_mode: int = 0o660
    """Permission bits of the socket."""
    state_dir: Path = Path("/var/lib/flatnet/agent")
    """Directory of the agent's SQLite database (allocations, blocks, outbox)."""
    metrics_listen: str | None = "127.0.0.1:9471"
    """``host:port`` serving Prometheus ``/metrics`` over TCP; unset disables it
    (``/metrics`` is always served on the unix socket too)."""
    api_max_body: int = Field(default=1 << 20, ge=1024)
    """Largest request body the local API accepts, in bytes."""
    api_read_timeout: float = Field(default=10.0, gt=0)
    """Seconds the local API waits for a complete request on an open connection."""

    # -- datapath --------------------------------------------------------------------
    mtu: int = Field(default=1500, ge=68, le=65535)
    """MTU of both veth ends when the netconf sets none."""
    host_netns: str | None = None
    """Network namespace that plays the node (labs and tests); unset: the agent's own."""
    route_protocol: int = Field(default=241, ge=1, le=255)
    """``rtm_protocol`` of every route the agent installs."""
    host_ifname_prefix: str = Field(default="fn", min_length=1, max_length=4)
    """Prefix of the host veth names; reconcile treats such veths as the agent's own."""
    netlink_workers: int = Field(default=16, ge=1, le=256)
    """Threads running blocking netlink calls."""
    link_delete_workers: int = Field(default=2, ge=1, le=64)
    """Threads deleting veths (concurrent deletions overlap their RCU grace periods)."""
    defer_link_delete: bool = True
    """DEL removes the pod's host routes and releases its addresses at once, then
    deletes the veth in the background (the kernel spends ~25 ms per veth in an RCU
    grace period). False: DEL answers only after the veth is gone."""

    # -- background loops ------------------------------------------------------------
    reconcile_interval: float = Field(default=30.0, gt=0)
    """Seconds between reconcile passes (kernel vs. state, blackholes, announcements)."""
    release_grace: float = Field(default=60.0, ge=0)
    """Seconds an attachment's container must stay gone before reconcile releases it."""
    outbox_batch_size: int = Field(default=200, ge=1, le=1000)
    """Ledger events per POST /v1/ledger/events."""
    outbox_linger: float = Field(default=1.0, ge=0)
    """Seconds the outbox waits after a wake-up so that the events of a burst share one
    batch: the ledger is an audit trail, and one POST per pod would cost IPAM (and the
    node's CPU) far more than a second of delay."""
    outbox_interval: float = Field(default=5.0, gt=0)
    """Seconds between outbox checks when nothing wakes it."""
    shutdown_timeout: float = Field(default=10.0, gt=0)
    """Seconds a graceful stop waits for requests in flight."""

    # -- BGP (used by node_agent.bgp) ------------------------------------------------
    bgp_peers: list[BgpPeer] = Field(default_factory=list)
    """ToR sessions; empty means no BGP (the blocks are not announced)."""
    bgp: BgpSettings = Field(default_factory=BgpSettings)
    """How the ExaBGP speaker runs (timeouts, back-off, batch size)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Threshold of the JSON log lines written to stderr."""

    @field_validator("pools", "extra_pools")
    @classmethod
    def _pool_names(cls, value: list[str]) -> list[str]:
        import re

        for name in value:
            if not re.match(POOL_NAME_RE, name):
                raise ValueError(f"{name!r} is not a pool name")
        if len(set(value)) != len(value):
            raise ValueError("pool names must be unique")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> AgentSettings:
        if self.ipam_token is not None and self.ipam_token_file is not None:
            raise ValueError("set ipam_token or ipam_token_file, not both")
        if self.ipam_token_file is not None and not self.ipam_token_file.is_file():
            raise ValueError(f"ipam_token_file {self.ipam_token_file} does not exist")
        if self.ipam_retry_min > self.ipam_retry_max:
            raise ValueError("ipam_retry_min must not exceed ipam_retry_max")
        if self.controller_token_file is not None and not self.controller_token_file.is_file():
            raise ValueError(f"controller_token_file {self.controller_token_file} does not exist")
        if self.controller_retry_min > self.controller_retry_max:
            raise ValueError("controller_retry_min must not exceed controller_retry_max")
        if not self.socket_path.is_absolute():
            raise ValueError("socket_path must be absolute")
        if set(self.pools) & set(self.extra_pools):
            raise ValueError("a pool is listed in both pools and extra_pools")
        if self.metrics_listen is not None:
            host, sep, port = self.metrics_listen.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"metrics_listen {self.metrics_listen!r} is not host:port")
        return self

    # -- derived ---------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        """Registration labels: ``node_labels`` plus the rack label."""
        labels = dict(self.node_labels)
        if self.rack is not None:
            labels[self.rack_label] = self.rack
        return labels

    def registration(self) -> NodeUpsert:
        """What the agent registers its node with (``PUT /v1/nodes/{node_name}``)."""
        return NodeUpsert(node_ip=self.node_ip, labels=self.labels(), asn=self.asn)

    def token(self) -> str | None:
        """The IPAM bearer token, from the file or the setting."""
        if self.ipam_token_file is not None:
            return self.ipam_token_file.read_text().strip()
        return None if self.ipam_token is None else self.ipam_token.get_secret_value()

    def controller_token(self) -> str | None:
        """The fabric controller's bearer token, from ``controller_token_file``."""
        if self.controller_token_file is None:
            return None
        return self.controller_token_file.read_text().strip() or None

    def allowed_pools(self) -> list[str]:
        return [*self.pools, *self.extra_pools]

    @property
    def database_path(self) -> Path:
        return self.state_dir / "agent.db"


def load_settings(config_file: Path | None = None, **overrides: Any) -> AgentSettings:
    """Settings from ``overrides``, the environment and ``config_file`` (TOML or JSON)."""
    if config_file is None:
        return AgentSettings(**overrides)
    if not config_file.is_file():
        raise ValueError(f"config file {config_file} does not exist")
    suffix = config_file.suffix.lower()
    if suffix not in {".toml", ".json"}:
        raise ValueError(f"config file {config_file} must end in .toml or .json")

    class _FromFile(AgentSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            file_source: PydanticBaseSettingsSource = (
                TomlConfigSettingsSource(settings_cls, toml_file=config_file)
                if suffix == ".toml"
                else JsonConfigSettingsSource(settings_cls, json_file=config_file)
            )
            return init_settings, env_settings, file_source

    loaded = _FromFile(**overrides)
    return AgentSettings.model_validate(loaded.model_dump())
