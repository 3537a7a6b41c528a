"""Fixtures every package's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.databases import database_server


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """One PostgreSQL for the whole session (see :mod:`tests.databases`)."""
    with database_server() as url:
        yield url
