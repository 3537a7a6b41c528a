"""A top-of-rack router: its BGP identity and the addresses nodes peer with."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base, Timestamps


class Tor(Timestamps, Base):
    __tablename__ = "tors"
    __table_args__ = (
        CheckConstraint("asn >= 1 AND asn <= 4294967294", name="asn"),
        CheckConstraint("address_v4 IS NOT NULL OR address_v6 IS NOT NULL", name="address"),
        CheckConstraint("address_v4 IS NULL OR family(address_v4) = 4", name="address_v4"),
        CheckConstraint("address_v6 IS NULL OR family(address_v6) = 6", name="address_v6"),
        CheckConstraint("router_id IS NULL OR family(router_id) = 4", name="router_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rack_id: Mapped[int] = mapped_column(ForeignKey("racks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    asn: Mapped[int] = mapped_column(BigInteger)
    address_v4: Mapped[IPv4Address | None] = mapped_column(INET, nullable=True, unique=True)
    address_v6: Mapped[IPv6Address | None] = mapped_column(INET, nullable=True, unique=True)
    router_id: Mapped[IPv4Address | None] = mapped_column(INET, nullable=True)

    def bgp_router_id(self) -> IPv4Address | None:
        """The BGP router ID: ``router_id`` when set, else the IPv4 peering address (an
        IPv6-only ToR must have a ``router_id``; the rack service checks that)."""
        return self.router_id or self.address_v4
