"""node departures for the lifecycle loop

When a lifecycle leader first saw a node gone. The grace period before the node's
blocks are released runs from this time, so a leader change does not start it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_departures",
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("gone_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_node_departures")),
    )


def downgrade() -> None:
    op.drop_table("node_departures")
