"""An address range of a pool that no block may overlap (gateways, VIPs, legacy hosts)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class Reservation(Base):
    __tablename__ = "pool_reservations"
    __table_args__ = (CheckConstraint("first <= last", name="ordered"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)
    first: Mapped[IPv4Address | IPv6Address] = mapped_column(INET)
    last: Mapped[IPv4Address | IPv6Address] = mapped_column(INET)
    description: Mapped[str] = mapped_column(Text, server_default="")
