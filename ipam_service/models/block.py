"""A block of a pool held by a node. Released rows stay as history.

The exclusion constraint is the invariant: no two *held* blocks overlap, whatever
process inserts them.
"""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Network, IPv6Network

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import CIDR, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class Block(Base):
    __tablename__ = "blocks"
    __table_args__ = (
        ExcludeConstraint(
            ("cidr", "&&"),
            using="gist",
            name="ex_blocks_held_overlap",
            ops={"cidr": "inet_ops"},
            where=text("released_at IS NULL"),
        ),
        UniqueConstraint("node_id", "request_id"),
        CheckConstraint("released_at IS NULL OR released_at >= claimed_at", name="released"),
        Index(
            "ix_blocks_held_pool_cidr",
            "pool_id",
            "cidr",
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    cidr: Mapped[IPv4Network | IPv6Network] = mapped_column(CIDR)
    request_id: Mapped[str] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    release_reason: Mapped[str] = mapped_column(Text, server_default="")
