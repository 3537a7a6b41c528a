"""Translate PostgreSQL constraint violations into domain errors, in one place."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import IntegrityError


def constraint_of(exc: IntegrityError | psycopg.errors.IntegrityError) -> str:
    """Name of the violated constraint ('' when the driver did not report one)."""
    diag = getattr(exc.orig if isinstance(exc, IntegrityError) else exc, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name or ""
