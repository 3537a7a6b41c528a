"""Translate PostgreSQL constraint violations into domain errors, in one place."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError


def constraint_of(exc: IntegrityError) -> str:
    """Name of the violated constraint ('' when the driver did not report one)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name or ""
