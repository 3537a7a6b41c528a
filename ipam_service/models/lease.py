"""The ownership ledger: who held an IP, on which node, over which interval.

``during`` is a ``tstzrange``; an open upper bound means "still owned". The GiST
exclusion over ``(ip =, during &&)`` makes two owners of one IP at one instant
impossible, and its index answers point-in-time audit queries.
"""

from __future__ import annotations

import uuid
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import INET, TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from ipam_service.models.base import Base


class Lease(Base):
    __tablename__ = "leases"
    __table_args__ = (
        ExcludeConstraint(
            ("ip", "="),
            ("during", "&&"),
            using="gist",
            name="ex_leases_one_owner",
            ops={"ip": "inet_ops"},
        ),
        CheckConstraint("NOT isempty(during) AND NOT lower_inf(during)", name="during"),
        Index("ix_leases_pod", "pod_namespace", "pod_name"),
        Index("ix_leases_open_block", "block_id", postgresql_where=text("upper_inf(during)")),
        Index("ix_leases_lower", text("lower(during)")),
        # the point-in-time owner: the lease of the IP that started last at or before the
        # instant (leases of one IP never overlap); a bounded descent, unlike the GiST
        # exclusion index, whose inet keys overlap more as the ledger grows
        Index("ix_leases_ip_lower", "ip", text("lower(during)")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ip: Mapped[IPv4Address | IPv6Address] = mapped_column(INET)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    network: Mapped[str] = mapped_column(Text, server_default="")
    container_id: Mapped[str] = mapped_column(Text)
    ifname: Mapped[str] = mapped_column(Text)
    pod_namespace: Mapped[str] = mapped_column(Text, server_default="")
    pod_name: Mapped[str] = mapped_column(Text, server_default="")
    pod_uid: Mapped[str] = mapped_column(Text, server_default="")
    during: Mapped[Range[Any]] = mapped_column(TSTZRANGE)
    open_event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    close_event_id: Mapped[uuid.UUID | None] = mapped_column(unique=True, nullable=True)
    close_reason: Mapped[str] = mapped_column(Text, server_default="")
