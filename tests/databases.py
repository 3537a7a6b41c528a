"""The test PostgreSQL: one embedded server per session, and throwaway databases on it.

Every package's tests use the same server (``pg_server_url``, from ``tests/conftest.py``)
unless ``FLATNET_TEST_DATABASE_URL`` names another; tests that commit for real get a
database of their own from :func:`fresh_database`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ipam_service.database import embedded_server, migrate, sqlalchemy_url


@contextmanager
def fresh_database(
    server_url: str, *, prefix: str, migrated: bool, template: str | None = None
) -> Iterator[str]:
    """Create a uniquely named database (at schema head when ``migrated``, or a copy of
    the ``template`` database URL); drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    admin = create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
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


@contextmanager
def database_server() -> Iterator[str]:
    """The URL of ``FLATNET_TEST_DATABASE_URL``, else of a throwaway embedded PostgreSQL."""
    external = os.environ.get("FLATNET_TEST_DATABASE_URL")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="flatnet-pg-"))
    root.chmod(0o755)  # pgserver runs PostgreSQL as its own user when we are root
    server = embedded_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
