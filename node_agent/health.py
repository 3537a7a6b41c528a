"""The agent's recent failures, kept for the status API (pure: the caller passes times)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorEntry:
    at: float
    source: str
    """What failed: ``ipam``, ``outbox``, ``reconcile``, ``add``..."""
    message: str


class Health:
    """The last errors, and whether IPAM answered the last call."""

    def __init__(self, *, keep: int = 20) -> None:
        self._errors: deque[ErrorEntry] = deque(maxlen=keep)
        self.ipam_ok = False
        self.ipam_last_ok: float | None = None
        self.registered = False

    def error(self, *, source: str, message: str, now: float) -> None:
        self._errors.append(ErrorEntry(at=now, source=source, message=message))

    def ipam_answered(self, *, now: float) -> None:
        self.ipam_ok = True
        self.ipam_last_ok = now

    def ipam_failed(self, *, message: str, now: float) -> None:
        self.ipam_ok = False
        self.error(source="ipam", message=message, now=now)

    def errors(self) -> list[ErrorEntry]:
        return list(self._errors)
