"""First-seen state across drift reports, so an entry's ``since`` does not move. Pure.

The classifier gives each entry the earliest moment its inputs prove; the tracker keeps
the first value it saw for that entry's identity (:attr:`DriftEntry.key`) for as long as
the entry keeps appearing, and forgets it as soon as a report no longer has it (fixed).

One exception: "missing" is judged only on ToRs whose view of the family is complete.
While a ToR's session is down its missing entries are not reported, but their start
times are kept, so a ToR that comes back does not restart the clock of old drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from fabric_controller.drift.classifier import DriftEntry, DriftKind, EntryKey


class SinceTracker:
    def __init__(self) -> None:
        self._since: dict[EntryKey, float] = {}

    def __len__(self) -> int:
        return len(self._since)

    def update(
        self, entries: Sequence[DriftEntry], *, blind: Iterable[tuple[str, int]] = ()
    ) -> list[DriftEntry]:
        """Entries with their first-seen ``since``; forget what is gone.

        ``blind`` lists (ToR, IP version) pairs whose view is incomplete in this report:
        their remembered "missing" start times are kept, not forgotten.
        """
        unseen = {(tor, version) for tor, version in blind}
        kept: dict[EntryKey, float] = {}
        for key, since in self._since.items():
            if key[0] == DriftKind.MISSING.value and (key[1], key[2].version) in unseen:
                kept[key] = since
        out: list[DriftEntry] = []
        for entry in entries:
            key = entry.key
            since = self._since.get(key, entry.since)
            kept[key] = since
            out.append(entry if since == entry.since else dataclasses.replace(entry, since=since))
        self._since = kept
        return out
