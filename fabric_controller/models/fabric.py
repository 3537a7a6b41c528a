"""A fabric: one routing domain with its ASN model and the BGP policy of its node sessions."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from fabric_controller.models.base import Base, Timestamps
from fabric_controller.schemas import AsnModel


class Fabric(Timestamps, Base):
    __tablename__ = "fabrics"
    __table_args__ = (
        CheckConstraint("asn_model IN ('per-rack', 'per-node')", name="asn_model"),
        CheckConstraint(
            "(asn_model = 'per-node') = (asn_first IS NOT NULL AND asn_last IS NOT NULL)"
            " AND (asn_first IS NULL OR (asn_first >= 1 AND asn_first <= asn_last"
            " AND asn_last <= 4294967294))",
            name="asn_range",
        ),
        CheckConstraint("keepalive_time * 3 <= hold_time AND hold_time >= 3", name="timers"),
        CheckConstraint(
            "graceful_restart_time >= 0 AND graceful_restart_time <= 4095", name="graceful_restart"
        ),
        CheckConstraint("max_prefixes >= 1", name="max_prefixes"),
        CheckConstraint(
            "md5_password_file IS NULL OR md5_secret_ref IS NULL", name="one_md5_source"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    asn_model: Mapped[AsnModel] = mapped_column(Text)
    """``per-rack`` (nodes share their rack's ASN) or ``per-node`` (allocated from the range)."""
    asn_first: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    asn_last: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hold_time: Mapped[int] = mapped_column(Integer)
    keepalive_time: Mapped[int] = mapped_column(Integer)
    graceful_restart_time: Mapped[int] = mapped_column(Integer)
    max_prefixes: Mapped[int] = mapped_column(Integer)
    md5_password_file: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Path of the file holding the MD5 password (the secret itself is never stored)."""
    md5_secret_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Name of the secret in the secrets directories of the controller and the nodes."""
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))

    def node_range(self) -> tuple[int, int] | None:
        """The per-node ASN range, or None in the per-rack model."""
        if self.asn_first is None or self.asn_last is None:
            return None
        return self.asn_first, self.asn_last
