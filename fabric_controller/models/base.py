"""The controller's declarative base: its own MetaData, in the same Alembic history as IPAM."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are spelled out by the convention, so migrations can refer to them.
NAMING_CONVENTION = dict(
    pk="pk_%(table_name)s",
    fk="fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    uq="uq_%(table_name)s_%(column_0_N_name)s",
    ix="ix_%(table_name)s_%(column_0_N_name)s",
    ck="ck_%(table_name)s_%(constraint_name)s",
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamps:
    """``created_at`` and ``updated_at``, set by the database."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
