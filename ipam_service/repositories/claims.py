"""The one-statement block claim: ``ipam_claim_block`` (migration 0002) over psycopg."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ipam_service.schemas import IPNetwork
from ipam_service.statements import StatementConnection

Outcome = Literal[
    "created", "replayed", "request-id-conflict", "node-not-found", "pool-not-found", "exhausted"
]
CLAIM = (
    "SELECT outcome, block_cidr, block_claimed_at, block_released_at, block_release_reason,"
    " pool_prefixlen, searched FROM ipam_claim_block(%s, %s, %s)"
)


@dataclass(frozen=True)
class ClaimAnswer:
    """What ``ipam_claim_block`` answered: an outcome and, when there is one, the block."""

    outcome: Outcome
    cidr: IPNetwork | None
    claimed_at: datetime | None
    released_at: datetime | None
    release_reason: str | None
    prefixlen: int | None
    """The pool's block length (answers ``exhausted``)."""
    searched: list[IPNetwork] | None
    """The ranges searched, rack subnets first (answers ``exhausted``)."""


class ClaimRepository:
    def __init__(self, conn: StatementConnection) -> None:
        self.conn = conn

    async def claim(self, *, node: str, pool: str, request_id: str) -> ClaimAnswer:
        """Claim a block in one statement. Should anything ever bypass the pool lock, the
        exclusion violation surfaces as ``psycopg.errors.IntegrityError``."""
        cur = await self.conn.execute(CLAIM, (node, pool, request_id))
        row = await cur.fetchone()
        assert row is not None
        return ClaimAnswer(*row)
