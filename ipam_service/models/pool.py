"""A VPC-like pool: one IP family, a fixed block length, CIDRs appended over time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, SmallInteger, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class Pool(Base):
    __tablename__ = "pools"
    __table_args__ = (
        CheckConstraint("family IN (4, 6)", name="family"),
        CheckConstraint(
            "block_prefixlen >= 0 AND block_prefixlen <= CASE family WHEN 4 THEN 32 ELSE 128 END",
            name="block_prefixlen",
        ),
        CheckConstraint("name ~ '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$'", name="name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    family: Mapped[int] = mapped_column(SmallInteger)
    block_prefixlen: Mapped[int] = mapped_column(SmallInteger)
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
