"""The ASN allocated to a node in a per-node fabric. The database keeps it unique."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base


class NodeAsn(Base):
    __tablename__ = "node_asns"
    __table_args__ = (
        UniqueConstraint("fabric_id", "asn"),
        CheckConstraint("asn >= 1 AND asn <= 4294967294", name="asn"),
    )

    node: Mapped[str] = mapped_column(Text, primary_key=True)
    """The node's name (as registered in IPAM)."""
    fabric_id: Mapped[int] = mapped_column(ForeignKey("fabrics.id", ondelete="CASCADE"))
    asn: Mapped[int] = mapped_column(BigInteger)
    allocated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
