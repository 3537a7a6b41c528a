"""A subnet of a rack: where its nodes and ToRs peer (``node``) or its pods live (``pool``).

Two exclusion constraints keep racks apart: no two racks' node subnets overlap, and no
two racks' pool subnets overlap, whichever process writes them.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Text, text
from sqlalchemy.dialects.postgresql import CIDR, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base


def _no_overlap(role: str) -> ExcludeConstraint:
    return ExcludeConstraint(
        ("cidr", "&&"),
        using="gist",
        name=f"ex_rack_subnets_{role}_overlap",
        ops={"cidr": "inet_ops"},
        where=text(f"role = '{role}'"),
    )


class RackSubnet(Base):
    __tablename__ = "rack_subnets"
    __table_args__ = (
        CheckConstraint("role IN ('node', 'pool')", name="role"),
        _no_overlap("node"),
        _no_overlap("pool"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rack_id: Mapped[int] = mapped_column(ForeignKey("racks.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(Text)
    cidr: Mapped[IPv4Network | IPv6Network] = mapped_column(CIDR)
