"""Settings of the IPAM service (``IpamSettings``), read from ``FLATNET_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/flatnet/pgdata")
    return Path.home() / ".local/share/flatnet/pgdata"


class IpamSettings(BaseSettings):
    """Everything the IPAM service can be told. Built once in ``main()`` and passed down."""

    model_config = SettingsConfigDict(env_prefix="FLATNET_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy/libpq URL of an external PostgreSQL. Unset: embedded pgserver.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Data directory of the embedded PostgreSQL (used when database_url is unset).",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(default=8470, ge=1, le=65535, description="TCP port of the HTTP API.")
    workers: int = Field(default=1, ge=1, le=64, description="Uvicorn worker processes.")
    auth: Literal["on", "off"] = Field(
        default="on", description="'off' disables bearer-token checks (local demo only)."
    )
    tokens_file: Path | None = Field(
        default=None,
        description='JSON file of {"<token>": "<role>"}; roles admin, auditor, node:<name>.',
    )
    max_batch_events: int = Field(
        default=1000, ge=1, description="Largest ledger event batch one request may carry."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    page_limit_default: int = Field(default=100, ge=1, description="Page size when none is asked.")
    page_limit_max: int = Field(
        default=1000, ge=1, description="Largest page size a client may ask."
    )
    db_pool_size: int = Field(default=10, ge=1, description="Connections per service process.")
    db_pool_overflow: int = Field(default=10, ge=0, description="Extra connections under load.")
    db_statement_pool_size: int = Field(
        default=8,
        ge=1,
        description="Autocommit connections per service process for one-statement block claims.",
    )
    metrics_refresh_seconds: float = Field(
        default=15.0, gt=0, description="Period of the pool-utilisation gauge refresh."
    )
    migration_lock_id: int = Field(
        default=0x464C41544E4554, description="pg_advisory_lock key that serialises migrations."
    )

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> IpamSettings:
        if self.auth == "on" and self.tokens_file is not None and not self.tokens_file.exists():
            raise ValueError(f"FLATNET_TOKENS_FILE {self.tokens_file} does not exist")
        if self.page_limit_default > self.page_limit_max:
            raise ValueError("page_limit_default must not exceed page_limit_max")
        return self
