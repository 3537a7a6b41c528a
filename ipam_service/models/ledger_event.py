"""Every ledger event ever applied, by id: the record that makes a retried batch a no-op."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class LedgerEvent(Base):
    __tablename__ = "ledger_events"
    __table_args__ = (CheckConstraint("kind IN ('allocate', 'release')", name="kind"),)

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    kind: Mapped[str] = mapped_column(Text)
    lease_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("leases.id"), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
