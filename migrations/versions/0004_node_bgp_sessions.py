"""node BGP sessions as reported by the node agents

One row per (node, peer): state, last error, prefixes sent and acknowledged, the last
state change and when the report arrived. A report replaces the node's rows; they go
with the node row (ON DELETE CASCADE).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_bgp_sessions",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column("peer", postgresql.INET(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("prefixes_sent", sa.BigInteger(), nullable=False),
        sa.Column("prefixes_acknowledged", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "prefixes_sent >= 0 AND prefixes_acknowledged >= 0",
            name=op.f("ck_node_bgp_sessions_prefixes"),
        ),
        sa.CheckConstraint(
            "state IN ('up', 'down', 'connecting')", name=op.f("ck_node_bgp_sessions_state")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_bgp_sessions_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", "peer", name=op.f("pk_node_bgp_sessions")),
    )


def downgrade() -> None:
    op.drop_table("node_bgp_sessions")
