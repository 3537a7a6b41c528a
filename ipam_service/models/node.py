"""A node that holds blocks. Deleted nodes stay as rows (soft delete) to keep history whole."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Text, func, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (
        CheckConstraint("asn IS NULL OR (asn >= 1 AND asn <= 4294967295)", name="asn"),
        CheckConstraint("name ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'", name="name"),
        Index(
            "uq_nodes_live_node_ip",
            "node_ip",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    node_ip: Mapped[IPv4Address | IPv6Address] = mapped_column(INET)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
