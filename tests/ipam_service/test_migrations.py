"""Alembic: upgrade, downgrade, upgrade again, and models that match the migrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from ipam_service.database import alembic_config, migrate
from ipam_service.models import Base
from tests.databases import fresh_database


@pytest.fixture
def blank_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url, prefix="flatnet_mig", migrated=False) as url:
        yield url


def test_upgrade_downgrade_round_trip(blank_url: str) -> None:
    migrate(blank_url, lock_id=7)
    engine = create_engine(blank_url)
    assert {"pools", "blocks", "leases", "nodes"} <= set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(blank_url, lock_id=7)
    with engine.connect() as conn:
        kinds = conn.execute(
            text("SELECT conname FROM pg_constraint WHERE contype = 'x'")
        ).scalars()
        assert {
            "ex_blocks_held_overlap",
            "ex_leases_one_owner",
            "ex_pool_cidrs_overlap",
            "ex_pool_subnets_overlap",
        } <= set(kinds)
    engine.dispose()


def _ipam_object(obj: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
    """Other components keep their tables in the same migration history; they compare
    them against their own models."""
    table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table is None or table in Base.metadata.tables


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ipam_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []
