"""initial schema: pools, nodes, blocks, ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-26 19:20:48.856737
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("node_ip", postgresql.INET(), nullable=False),
        sa.Column(
            "labels",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "name ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'", name=op.f("ck_nodes_name")
        ),
        sa.CheckConstraint(
            "asn IS NULL OR (asn >= 1 AND asn <= 4294967295)", name=op.f("ck_nodes_asn")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
    )
    op.create_index(
        "uq_nodes_live_node_ip",
        "nodes",
        ["node_ip"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "pools",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("block_prefixlen", sa.SmallInteger(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "name ~ '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$'", name=op.f("ck_pools_name")
        ),
        sa.CheckConstraint(
            "block_prefixlen >= 0 AND block_prefixlen <= CASE family WHEN 4 THEN 32 ELSE 128 END",
            name=op.f("ck_pools_block_prefixlen"),
        ),
        sa.CheckConstraint("family IN (4, 6)", name=op.f("ck_pools_family")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pools")),
        sa.UniqueConstraint("name", name=op.f("uq_pools_name")),
    )
    op.create_table(
        "blocks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("cidr", postgresql.CIDR(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), server_default="", nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("cidr"), "&&"),
            where=sa.text("released_at IS NULL"),
            using="gist",
            name="ex_blocks_held_overlap",
            ops={"cidr": "inet_ops"},
        ),
        sa.CheckConstraint(
            "released_at IS NULL OR released_at >= claimed_at", name=op.f("ck_blocks_released")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_blocks_node_id_nodes")),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], name=op.f("fk_blocks_pool_id_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocks")),
        sa.UniqueConstraint("node_id", "request_id", name=op.f("uq_blocks_node_id_request_id")),
    )
    op.create_index(
        "ix_blocks_held_pool_cidr",
        "blocks",
        ["pool_id", "cidr"],
        unique=False,
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.create_index(op.f("ix_blocks_node_id"), "blocks", ["node_id"], unique=False)
    op.create_index(op.f("ix_blocks_pool_id"), "blocks", ["pool_id"], unique=False)
    op.create_table(
        "pool_cidrs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("cidr", postgresql.CIDR(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("next_hint", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("cidr"), "&&"),
            using="gist",
            name="ex_pool_cidrs_overlap",
            ops={"cidr": "inet_ops"},
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_pool_cidrs_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_cidrs")),
        sa.UniqueConstraint("pool_id", "position", name=op.f("uq_pool_cidrs_pool_id_position")),
    )
    op.create_index(op.f("ix_pool_cidrs_pool_id"), "pool_cidrs", ["pool_id"], unique=False)
    op.create_table(
        "pool_reservations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("first", postgresql.INET(), nullable=False),
        sa.Column("last", postgresql.INET(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("first <= last", name=op.f("ck_pool_reservations_ordered")),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["pools.id"],
            name=op.f("fk_pool_reservations_pool_id_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_reservations")),
    )
    op.create_index(
        op.f("ix_pool_reservations_pool_id"), "pool_reservations", ["pool_id"], unique=False
    )
    op.create_table(
        "pool_subnets",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("cidr", postgresql.CIDR(), nullable=False),
        sa.Column("node_selector", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("next_hint", postgresql.INET(), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("cidr"), "&&"),
            using="gist",
            name="ex_pool_subnets_overlap",
            ops={"cidr": "inet_ops"},
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["pools.id"],
            name=op.f("fk_pool_subnets_pool_id_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool_subnets")),
    )
    op.create_index(op.f("ix_pool_subnets_pool_id"), "pool_subnets", ["pool_id"], unique=False)
    op.create_table(
        "leases",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("block_id", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.Text(), server_default="", nullable=False),
        sa.Column("container_id", sa.Text(), nullable=False),
        sa.Column("ifname", sa.Text(), nullable=False),
        sa.Column("pod_namespace", sa.Text(), server_default="", nullable=False),
        sa.Column("pod_name", sa.Text(), server_default="", nullable=False),
        sa.Column("pod_uid", sa.Text(), server_default="", nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("open_event_id", sa.Uuid(), nullable=False),
        sa.Column("close_event_id", sa.Uuid(), nullable=True),
        sa.Column("close_reason", sa.Text(), server_default="", nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("ip"), "="),
            (sa.column("during"), "&&"),
            using="gist",
            name="ex_leases_one_owner",
            ops={"ip": "inet_ops"},
        ),
        sa.CheckConstraint(
            "NOT isempty(during) AND NOT lower_inf(during)", name=op.f("ck_leases_during")
        ),
        sa.ForeignKeyConstraint(
            ["block_id"], ["blocks.id"], name=op.f("fk_leases_block_id_blocks")
        ),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_leases_node_id_nodes")),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], name=op.f("fk_leases_pool_id_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
        sa.UniqueConstraint("close_event_id", name=op.f("uq_leases_close_event_id")),
        sa.UniqueConstraint("open_event_id", name=op.f("uq_leases_open_event_id")),
    )
    op.create_index("ix_leases_lower", "leases", [sa.literal_column("lower(during)")], unique=False)
    op.create_index(op.f("ix_leases_node_id"), "leases", ["node_id"], unique=False)
    op.create_index(
        "ix_leases_open_block",
        "leases",
        ["block_id"],
        unique=False,
        postgresql_where=sa.text("upper_inf(during)"),
    )
    op.create_index("ix_leases_pod", "leases", ["pod_namespace", "pod_name"], unique=False)
    op.create_index(op.f("ix_leases_pool_id"), "leases", ["pool_id"], unique=False)
    op.create_table(
        "ledger_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("lease_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('allocate', 'release')", name=op.f("ck_ledger_events_kind")),
        sa.ForeignKeyConstraint(
            ["lease_id"], ["leases.id"], name=op.f("fk_ledger_events_lease_id_leases")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_ledger_events_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ledger_events")),
    )
    op.create_index(op.f("ix_ledger_events_node_id"), "ledger_events", ["node_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_events_node_id"), table_name="ledger_events")
    op.drop_table("ledger_events")
    op.drop_index(op.f("ix_leases_pool_id"), table_name="leases")
    op.drop_index("ix_leases_pod", table_name="leases")
    op.drop_index(
        "ix_leases_open_block", table_name="leases", postgresql_where=sa.text("upper_inf(during)")
    )
    op.drop_index(op.f("ix_leases_node_id"), table_name="leases")
    op.drop_index("ix_leases_lower", table_name="leases")
    op.drop_table("leases")
    op.drop_index(op.f("ix_pool_subnets_pool_id"), table_name="pool_subnets")
    op.drop_table("pool_subnets")
    op.drop_index(op.f("ix_pool_reservations_pool_id"), table_name="pool_reservations")
    op.drop_table("pool_reservations")
    op.drop_index(op.f("ix_pool_cidrs_pool_id"), table_name="pool_cidrs")
    op.drop_table("pool_cidrs")
    op.drop_index(op.f("ix_blocks_pool_id"), table_name="blocks")
    op.drop_index(op.f("ix_blocks_node_id"), table_name="blocks")
    op.drop_index(
        "ix_blocks_held_pool_cidr",
        table_name="blocks",
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.drop_table("blocks")
    op.drop_table("pools")
    op.drop_index(
        "uq_nodes_live_node_ip", table_name="nodes", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_table("nodes")
