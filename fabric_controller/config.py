"""Settings of the fabric controller (``ControllerSettings``), read from the environment.

Variables use the prefix ``FLATNET_CONTROLLER_`` and ``__`` for nesting
(``FLATNET_CONTROLLER_KUBE__ENABLED=true``). Four settings that the controller shares
with the IPAM service on the same machine also answer to IPAM's names:
``FLATNET_DATABASE_URL``, ``FLATNET_DATA_DIR``, ``FLATNET_TOKENS_FILE`` and ``FLATNET_AUTH``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fabric_controller.drift.settings import CollectorSettings
from fabric_controller.kube.settings import KubeSettings

PREFIX = "FLATNET_CONTROLLER_"


def _shared(name: str) -> AliasChoices:
    """Accept the controller's own variable first, then the one IPAM reads."""
    return AliasChoices(f"{PREFIX}{name}", f"FLATNET_{name}")


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/flatnet/pgdata")
    return Path.home() / ".local/share/flatnet/pgdata"


class BgpDefaults(BaseModel):
    """BGP policy a new fabric starts with, unless its create request says otherwise."""

    hold_time: int = Field(default=9, ge=3, le=65535)
    """Hold time in seconds (the fabric-lab value: failure detected in 9 s)."""
    keepalive_time: int = Field(default=3, ge=1, le=21845)
    """Keepalive interval in seconds; at most a third of the hold time."""
    graceful_restart_time: int = Field(default=120, ge=0, le=4095)
    """Graceful-restart time in seconds that nodes advertise and ToRs honour (0: off)."""
    max_prefixes: int = Field(default=64, ge=1, le=1_000_000)
    """Most prefixes a ToR takes from one node session before it resets the session."""
    max_prefix_restart_minutes: int = Field(default=1, ge=1, le=65535)
    """Minutes until FRR re-opens a session reset for too many prefixes."""
    asn_first: int = Field(default=4_200_000_000, ge=1, le=4_294_967_294)
    """First ASN of the per-node range (RFC 6996 private 4-byte space)."""
    asn_last: int = Field(default=4_294_967_294, ge=1, le=4_294_967_294)
    """Last ASN of the per-node range."""


class ControllerSettings(BaseSettings):
    """Everything the fabric controller can be told. Built once in ``main()`` and passed down."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias=_shared("DATABASE_URL"))
    """SQLAlchemy/libpq URL of an external PostgreSQL. Unset: the embedded pgserver."""
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias=_shared("DATA_DIR"))
    """Data directory of the embedded PostgreSQL (shared with IPAM on one machine)."""
    auth: Literal["on", "off"] = Field(default="on", validation_alias=_shared("AUTH"))
    """'off' makes every caller admin (local demo only; logged loudly)."""
    tokens_file: Path | None = Field(default=None, validation_alias=_shared("TOKENS_FILE"))
    """JSON {"<token>": "<role>"}; roles admin, network, auditor, node:<name>."""
    host: str = "127.0.0.1"
    """Address the HTTP API listens on."""
    port: int = Field(default=8471, ge=1, le=65535)
    """TCP port of the HTTP API."""
    ipam_url: str = "http://127.0.0.1:8470"
    """Base URL of the IPAM service."""
    ipam_token_file: Path | None = None
    """File holding the bearer token the controller sends to IPAM (admin for node deletes)."""
    ipam_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of one IPAM request."""
    ipam_page_limit: int = Field(default=1000, ge=1, le=1000)
    """Page size asked of IPAM when listing nodes and blocks."""
    ipam_max_pages: int = Field(default=10_000, ge=1)
    """Bound on pages followed in one listing (guards against a cursor loop)."""
    db_pool_size: int = Field(default=5, ge=1)
    """Database connections of the controller process."""
    db_pool_overflow: int = Field(default=5, ge=0)
    """Extra connections under load."""
    migration_lock_id: int = 0x464C41544E4554
    """pg_advisory_lock key; the same as IPAM's, since both run one Alembic history."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body accepted, in bytes."""
    page_limit_max: int = Field(default=1000, ge=1)
    """Largest list the topology endpoints return in one answer."""
    secrets_dir: Path = Path("/etc/flatnet/secrets")
    """Where the controller reads MD5 secrets named by ``md5_secret_ref``."""
    node_secrets_dir: Path = Path("/etc/flatnet/secrets")
    """Where node agents find the same secrets (told to them in ``/v1/nodes/{name}/bgp``)."""
    private_asn_ranges: list[tuple[int, int]] = Field(
        default=[(64512, 65534), (4_200_000_000, 4_294_967_294)]
    )
    """Ranges a per-node ASN range must lie in (RFC 6996)."""
    reserved_asns: list[int] = Field(default=[0, 23456, 65535, 4_294_967_295])
    """ASNs no rack, ToR or node may use (RFC 7607, RFC 6793 AS_TRANS, RFC 7300)."""
    default_fabric: str = Field(default="default", pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
    """Fabric that racks first seen in node labels are created in (per-node ASN model)."""
    bgp: BgpDefaults = Field(default_factory=BgpDefaults)
    """Policy defaults for new fabrics."""
    log_level: str = "INFO"
    """Root log level."""
    kube: KubeSettings = Field(default_factory=KubeSettings)
    """The Kubernetes node-lifecycle loop (engineer K)."""
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    """The receive-only route collector and drift report (engineer D)."""

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> ControllerSettings:
        if self.auth == "on" and self.tokens_file is not None and not self.tokens_file.exists():
            raise ValueError(f"tokens_file {self.tokens_file} does not exist")
        if self.bgp.keepalive_time * 3 > self.bgp.hold_time:
            raise ValueError("bgp.keepalive_time must be at most a third of bgp.hold_time")
        if self.bgp.asn_first > self.bgp.asn_last:
            raise ValueError("bgp.asn_first must not exceed bgp.asn_last")
        return self

    def ipam_token(self) -> str | None:
        """The token for IPAM, read from ``ipam_token_file`` (None: send no token)."""
        if self.ipam_token_file is None:
            return None
        return self.ipam_token_file.read_text().strip() or None
