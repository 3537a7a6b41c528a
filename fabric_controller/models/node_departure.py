"""When a node was first seen gone, kept so that its grace period survives a leader change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Text
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base


class NodeDeparture(Base):
    __tablename__ = "node_departures"

    node: Mapped[str] = mapped_column(Text, primary_key=True)
    """The node's name (as registered in IPAM)."""
    gone_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When a lifecycle leader first saw the node gone; its grace period runs from here."""
