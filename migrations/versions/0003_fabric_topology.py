"""fabric controller: fabrics, racks, rack subnets, ToRs and per-node ASNs

The controller's own tables, in the same history as IPAM's. Two GiST exclusions keep
racks apart (no two racks' node subnets, or pool subnets, overlap) and unique
constraints keep ASNs apart (one rack ASN per fabric, one node ASN per fabric).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)
        for name in ("created_at", "updated_at")
    ]


def _no_overlap(role: str) -> postgresql.ExcludeConstraint:
    return postgresql.ExcludeConstraint(
        (sa.column("cidr"), "&&"),
        where=sa.text(f"role = '{role}'"),
        using="gist",
        name=f"ex_rack_subnets_{role}_overlap",
        ops={"cidr": "inet_ops"},
    )


def _fabrics() -> None:
    op.create_table(
        "fabrics",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("asn_model", sa.Text(), nullable=False),
        sa.Column("asn_first", sa.BigInteger(), nullable=True),
        sa.Column("asn_last", sa.BigInteger(), nullable=True),
        sa.Column("hold_time", sa.Integer(), nullable=False),
        sa.Column("keepalive_time", sa.Integer(), nullable=False),
        sa.Column("graceful_restart_time", sa.Integer(), nullable=False),
        sa.Column("max_prefixes", sa.Integer(), nullable=False),
        sa.Column("md5_password_file", sa.Text(), nullable=True),
        sa.Column("md5_secret_ref", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "(asn_model = 'per-node') = (asn_first IS NOT NULL AND asn_last IS NOT NULL)"
            " AND (asn_first IS NULL OR (asn_first >= 1 AND asn_first <= asn_last"
            " AND asn_last <= 4294967294))",
            name=op.f("ck_fabrics_asn_range"),
        ),
        sa.CheckConstraint(
            "asn_model IN ('per-rack', 'per-node')", name=op.f("ck_fabrics_asn_model")
        ),
        sa.CheckConstraint(
            "graceful_restart_time >= 0 AND graceful_restart_time <= 4095",
            name=op.f("ck_fabrics_graceful_restart"),
        ),
        sa.CheckConstraint(
            "keepalive_time * 3 <= hold_time AND hold_time >= 3", name=op.f("ck_fabrics_timers")
        ),
        sa.CheckConstraint("max_prefixes >= 1", name=op.f("ck_fabrics_max_prefixes")),
        sa.CheckConstraint(
            "md5_password_file IS NULL OR md5_secret_ref IS NULL",
            name=op.f("ck_fabrics_one_md5_source"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fabrics")),
        sa.UniqueConstraint("name", name=op.f("uq_fabrics_name")),
    )


def _node_asns() -> None:
    op.create_table(
        "node_asns",
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("fabric_id", sa.BigInteger(), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=False),
        sa.Column(
            "allocated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("asn >= 1 AND asn <= 4294967294", name=op.f("ck_node_asns_asn")),
        sa.ForeignKeyConstraint(
            ["fabric_id"],
            ["fabrics.id"],
            name=op.f("fk_node_asns_fabric_id_fabrics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_node_asns")),
        sa.UniqueConstraint("fabric_id", "asn", name=op.f("uq_node_asns_fabric_id_asn")),
    )


def _racks() -> None:
    op.create_table(
        "racks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("fabric_id", sa.BigInteger(), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("peering", sa.Text(), server_default=sa.text("'static'"), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("peering IN ('static', 'dynamic')", name=op.f("ck_racks_peering")),
        sa.CheckConstraint(
            "asn IS NULL OR (asn >= 1 AND asn <= 4294967294)", name=op.f("ck_racks_asn")
        ),
        sa.ForeignKeyConstraint(
            ["fabric_id"], ["fabrics.id"], name=op.f("fk_racks_fabric_id_fabrics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_racks")),
        sa.UniqueConstraint("fabric_id", "asn", name=op.f("uq_racks_fabric_id_asn")),
        sa.UniqueConstraint("name", name=op.f("uq_racks_name")),
    )
    op.create_index(op.f("ix_racks_fabric_id"), "racks", ["fabric_id"], unique=False)
    op.create_table(
        "rack_subnets",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rack_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("cidr", postgresql.CIDR(), nullable=False),
        _no_overlap("node"),
        _no_overlap("pool"),
        sa.CheckConstraint("role IN ('node', 'pool')", name=op.f("ck_rack_subnets_role")),
        sa.ForeignKeyConstraint(
            ["rack_id"],
            ["racks.id"],
            name=op.f("fk_rack_subnets_rack_id_racks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rack_subnets")),
    )
    op.create_index(op.f("ix_rack_subnets_rack_id"), "rack_subnets", ["rack_id"], unique=False)


def _tors() -> None:
    op.create_table(
        "tors",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rack_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=False),
        sa.Column("address_v4", postgresql.INET(), nullable=True),
        sa.Column("address_v6", postgresql.INET(), nullable=True),
        sa.Column("router_id", postgresql.INET(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "address_v4 IS NOT NULL OR address_v6 IS NOT NULL", name=op.f("ck_tors_address")
        ),
        sa.CheckConstraint(
            "address_v4 IS NULL OR family(address_v4) = 4", name=op.f("ck_tors_address_v4")
        ),
        sa.CheckConstraint(
            "address_v6 IS NULL OR family(address_v6) = 6", name=op.f("ck_tors_address_v6")
        ),
        sa.CheckConstraint("asn >= 1 AND asn <= 4294967294", name=op.f("ck_tors_asn")),
        sa.CheckConstraint(
            "router_id IS NULL OR family(router_id) = 4", name=op.f("ck_tors_router_id")
        ),
        sa.ForeignKeyConstraint(
            ["rack_id"], ["racks.id"], name=op.f("fk_tors_rack_id_racks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tors")),
        sa.UniqueConstraint("address_v4", name=op.f("uq_tors_address_v4")),
        sa.UniqueConstraint("address_v6", name=op.f("uq_tors_address_v6")),
        sa.UniqueConstraint("name", name=op.f("uq_tors_name")),
    )
    op.create_index(op.f("ix_tors_rack_id"), "tors", ["rack_id"], unique=False)


def upgrade() -> None:
    _fabrics()
    _node_asns()
    _racks()
    _tors()


def downgrade() -> None:
    for table in ("tors", "rack_subnets", "racks", "node_asns", "fabrics"):
        op.drop_table(table)
