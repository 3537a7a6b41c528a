"""A topology subnet of a pool: the aggregate that holds the blocks of one rack (or zone)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class PoolSubnet(Base):
    __tablename__ = "pool_subnets"
    __table_args__ = (
        ExcludeConstraint(
            ("cidr", "&&"), using="gist", name="ex_pool_subnets_overlap", ops={"cidr": "inet_ops"}
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    cidr: Mapped[IPv4Network | IPv6Network] = mapped_column(CIDR)
    node_selector: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """Node labels that select this subnet, e.g. {"topology.flatnet.io/rack": "r1"}."""
    next_hint: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET, nullable=True)
