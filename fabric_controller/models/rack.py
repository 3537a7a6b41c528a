"""A rack: the nodes behind one pair (or one) of ToRs, found by the node rack label."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base, Timestamps
from fabric_controller.schemas import Peering


class Rack(Timestamps, Base):
    __tablename__ = "racks"
    __table_args__ = (
        UniqueConstraint("fabric_id", "asn"),
        CheckConstraint("asn IS NULL OR (asn >= 1 AND asn <= 4294967294)", name="asn"),
        CheckConstraint("peering IN ('static', 'dynamic')", name="peering"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    fabric_id: Mapped[int] = mapped_column(ForeignKey("fabrics.id"), index=True)
    asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The ASN every node of the rack uses (per-rack model); NULL in the per-node model."""
    peering: Mapped[Peering] = mapped_column(Text, server_default=text("'static'"))
    """``static``: one ToR neighbour per node; ``dynamic``: a listen range per subnet."""
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
