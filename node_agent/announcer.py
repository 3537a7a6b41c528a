"""The seam between the agent's block bookkeeping and route announcement.

The daemon owns *which* blocks the node holds; an :class:`Announcer` owns *how*
the fabric learns about them. With BGP peers configured the announcer is the
ExaBGP speaker in :mod:`node_agent.bgp`; without peers it is :class:`NullAnnouncer`
(useful for a single-node setup and for tests of the datapath alone).

Idempotency, as the daemon relies on it:

* ``announce(prefix)`` returns only once the speaker has acknowledged the prefix
  on every established session (or the announcement is queued for sessions that
  are down and will be replayed at session-up). Announcing a prefix twice is
  harmless.
* ``withdraw(prefix)`` is the same in reverse; withdrawing an unknown prefix is a
  no-op.
* ``sync(held)`` is a full reconcile: afterwards exactly ``held`` is announced.
  Call it right after ``start()``: until the first ``sync`` the BGP speaker does not
  end graceful restart (no End-of-RIB), so the ToR keeps the routes of the previous
  run instead of flushing them before the node has said what it holds.
* ``drain()`` withdraws every route and *keeps* them withdrawn: afterwards ``announce``,
  ``sync`` and a session coming up change what the node holds (``desired``) but send
  nothing, until ``undrain()`` announces the desired set again. A new process starts
  undrained (a restart after a planned shutdown announces as usual).
* ``announce``/``withdraw``/``sync``/``drain``/``undrain`` raise an ``AgentError`` when the
  speaker cannot confirm in time; the desired state is kept and replayed when it can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Protocol

Prefix = IPv4Network | IPv6Network


@dataclass(frozen=True)
class PeerStatus:
    """One BGP session as the agent reports it (status API, metrics, IPAM)."""

    peer: str
    state: str
    """``up``, ``down`` or ``connecting``."""
    last_error: str = ""
    prefixes_sent: int = 0
    prefixes_acknowledged: int = 0
    since: float = 0.0
    """Unix time of the last state change."""


@dataclass
class AnnouncerStatus:
    running: bool
    peers: list[PeerStatus] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    pid: int | None = None
    """PID of the speaker process (ExaBGP), when one runs."""
    restarts: int = 0
    """Times the speaker process died and was started again."""
    drained: bool = False
    """Every route withdrawn on purpose (``drain``); nothing is announced until ``undrain``."""


class Announcer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop without withdrawing (graceful restart keeps the routes at the ToR)."""

    async def drain(self) -> None:
        """Withdraw every route explicitly, for a planned shutdown; they stay withdrawn."""

    async def undrain(self) -> None:
        """End a drain: announce the desired prefixes again."""

    async def announce(self, prefix: Prefix) -> None: ...

    async def withdraw(self, prefix: Prefix) -> None: ...

    async def sync(self, held: Iterable[Prefix]) -> None: ...

    def status(self) -> AnnouncerStatus: ...


class NullAnnouncer:
    """Announces nothing: the node has no BGP peers."""

    def __init__(self) -> None:
        self._held: set[Prefix] = set()
        self._drained = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def drain(self) -> None:
        self._drained = True

    async def undrain(self) -> None:
        self._drained = False

    async def announce(self, prefix: Prefix) -> None:
        self._held.add(prefix)

    async def withdraw(self, prefix: Prefix) -> None:
        self._held.discard(prefix)

    async def sync(self, held: Iterable[Prefix]) -> None:
        self._held = set(held)

    def status(self) -> AnnouncerStatus:
        announced = [] if self._drained else sorted(str(p) for p in self._held)
        return AnnouncerStatus(running=False, announced=announced, drained=self._drained)
