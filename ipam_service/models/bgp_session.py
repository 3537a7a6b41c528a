"""One BGP session of a node, as the node's agent last reported it (for the fabric controller).

A report replaces the node's whole set of rows, so a session the agent no longer has
disappears with the next report. ``reported_at`` tells a reader how fresh the row is.
"""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Text, func, text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class BgpSession(Base):
    __tablename__ = "node_bgp_sessions"
    __table_args__ = (
        CheckConstraint("state IN ('up', 'down', 'connecting')", name="state"),
        CheckConstraint("prefixes_sent >= 0 AND prefixes_acknowledged >= 0", name="prefixes"),
    )

    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    peer: Mapped[IPv4Address | IPv6Address] = mapped_column(INET, primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    last_error: Mapped[str] = mapped_column(Text, server_default=text("''"))
    prefixes_sent: Mapped[int] = mapped_column(BigInteger)
    prefixes_acknowledged: Mapped[int] = mapped_column(BigInteger)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
