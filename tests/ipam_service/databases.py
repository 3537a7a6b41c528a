"""Throwaway databases on the test server, for tests that commit for real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ipam_service.database import migrate, sqlalchemy_url


@contextmanager
def fresh_database(server_url: str, *, prefix: str, migrated: bool) -> Iterator[str]:
    """Create a uniquely named database (at schema head when ``migrated``); drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(sqlalchemy_url(server_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    try:
        if migrated:
            migrate(rendered, lock_id=42)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
