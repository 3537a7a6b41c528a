"""A CIDR of a pool. The GiST exclusion keeps every pool CIDR disjoint from every other."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from sqlalchemy import BigInteger, DateTime, ForeignKey, SmallInteger, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import CIDR, INET, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class PoolCidr(Base):
    __tablename__ = "pool_cidrs"
    __table_args__ = (
        ExcludeConstraint(
            ("cidr", "&&"), using="gist", name="ex_pool_cidrs_overlap", ops={"cidr": "inet_ops"}
        ),
        UniqueConstraint("pool_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    cidr: Mapped[IPv4Network | IPv6Network] = mapped_column(CIDR)
    position: Mapped[int] = mapped_column(SmallInteger)
    next_hint: Mapped[IPv4Address | IPv6Address | None] = mapped_column(INET, nullable=True)
    """Lower bound of the first free block: every block below it is taken (search cache)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
