"""The drift API's wire contract (``GET /v1/drift``). No I/O here; the CLI reads it too."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from fabric_controller.drift.classifier import DriftEntry, DriftKind
from fabric_controller.drift.rib import TorView
from ipam_service.schemas import IP, Cidr

Kind = Literal["missing", "rogue", "stale", "next-hop-mismatch"]


def _time(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


class DriftEntryRead(BaseModel):
    kind: Kind
    prefix: Cidr
    node: str | None = Field(description="The node concerned; null when nobody known announced.")
    tor: str
    since: datetime = Field(description="When this drift started (stable across reports).")
    next_hop: IP | None = None
    expected_next_hop: IP | None = None
    as_path: list[int] = Field(default_factory=list)
    path_id: int | None = None
    detail: str = ""

    @classmethod
    def of(cls, entry: DriftEntry) -> DriftEntryRead:
        """From the classifier's typed entry; built without re-validation (a report of
        every block missing is tens of thousands of entries)."""
        return cls.model_construct(
            kind=entry.kind.value,
            prefix=entry.prefix,
            node=entry.node,
            tor=entry.tor,
            since=_time(entry.since),
            next_hop=entry.next_hop,
            expected_next_hop=entry.expected_next_hop,
            as_path=list(entry.as_path),
            path_id=entry.path_id,
            detail=entry.detail,
        )


class CollectorSessionRead(BaseModel):
    peer: IP
    state: str
    since: datetime | None
    reason: str


class CollectorTorRead(BaseModel):
    name: str
    rack: str | None
    state: Literal["up", "partial", "down"]
    sessions: list[CollectorSessionRead]
    paths: int
    complete: list[Literal[4, 6]] = Field(
        description="IP versions whose view is complete; 'missing' is judged only for these."
    )

    @classmethod
    def of(cls, tor: TorView) -> CollectorTorRead:
        return cls.model_validate(
            {
                "name": tor.name,
                "rack": tor.rack,
                "state": tor.state,
                "sessions": [
                    {
                        "peer": s.peer,
                        "state": s.state,
                        "since": _time(s.since) if s.since else None,
                        "reason": s.reason,
                    }
                    for s in tor.sessions
                ],
                "paths": len(tor.paths),
                "complete": sorted(tor.covered),
            }
        )


class DriftReport(BaseModel):
    generated_at: datetime
    complete: bool = Field(description="Every ToR's view of every family is complete.")
    counts: dict[Kind, int] = Field(description="Entries by kind, before any filter.")
    entries: list[DriftEntryRead]
    tors: list[CollectorTorRead]

    @classmethod
    def of(
        cls,
        entries: Sequence[DriftEntry],
        tors: Sequence[TorView],
        *,
        at: float,
        versions: frozenset[int],
    ) -> DriftReport:
        counts = {k.value: 0 for k in DriftKind}
        for e in entries:
            counts[e.kind.value] += 1
        return cls.model_validate(
            {
                "generated_at": _time(at),
                "complete": all(versions <= set(t.covered) for t in tors),
                "counts": counts,
                "entries": [],
                "tors": [CollectorTorRead.of(t) for t in tors],
            }
        ).model_copy(update={"entries": [DriftEntryRead.of(e) for e in entries]})

    def only(
        self, *, kinds: Sequence[str] = (), node: str | None = None, tor: str | None = None
    ) -> DriftReport:
        """The same report with only the entries that match every filter given."""
        entries = [
            e
            for e in self.entries
            if (not kinds or e.kind in kinds)
            and (node is None or e.node == node)
            and (tor is None or e.tor == tor)
        ]
        return self.model_copy(update={"entries": entries})
