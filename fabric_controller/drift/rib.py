"""The collector's RIB: every path each ToR carries for the pod address space. Pure.

Paths are keyed by (session, prefix, path-id): with ADD-PATH the ToR sends every path
of a prefix (two nodes announcing one block arrive as two paths), not only its best.

Session lifecycle, as a table (``stale_seconds`` > 0 means the ToR does graceful restart):

==============  ===========================================================================
event           effect on the session's paths
==============  ===========================================================================
announce        insert or replace; ``first_seen`` survives a replace with the same next hop
withdraw        remove
state down      mark stale (kept ``stale_seconds``; the ToR still forwards on them) or clear
End-of-RIB      remove what is still stale for that family: the ToR did not resend it
refresh begin   remember every path of the family; an announce forgets it again
refresh end     remove what was remembered and not resent (mark and sweep)
ExaBGP exits    every session goes down
==============  ===========================================================================

A family's view is *complete* (``TorView.covered``) once the session is up and the ToR
sent End-of-RIB, or ``sync_timeout`` after up; a route refresh the collector asked for
makes it incomplete again until its end marker (or the timeout). Drift reports "missing"
only against complete views.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fabric_controller.drift import messages as m
from fabric_controller.drift.settings import IPAddress, IPNetwork, TorPeer

Key = tuple[IPAddress, IPNetwork, int]


def within(prefix: IPNetwork, networks: Iterable[IPNetwork]) -> bool:
    """Whether ``prefix`` lies inside one of ``networks`` (of its own family)."""
    return any(
        prefix.version == n.version and prefix.subnet_of(n)  # type: ignore[arg-type]
        for n in networks
    )


@dataclass(frozen=True, slots=True)
class BgpPath:
    tor: str
    peer: IPAddress
    """The collector session the path arrived on."""
    prefix: IPNetwork
    path_id: int
    next_hop: IPAddress
    as_path: tuple[int, ...]
    first_seen: float
    stale_since: float | None = None

    @property
    def origin_as(self) -> int | None:
        return self.as_path[-1] if self.as_path else None


@dataclass
class Session:
    peer: IPAddress
    versions: frozenset[int]
    state: str = "down"
    since: float = 0.0
    reason: str = ""
    eor_at: dict[int, float] = field(default_factory=dict)
    refresh_wait: dict[int, float] = field(default_factory=dict)
    """Families with a route refresh in flight, and when it was asked for."""
    sweep: dict[int, set[Key]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionView:
    peer: IPAddress
    state: str
    since: float
    reason: str


@dataclass(frozen=True, slots=True)
class TorView:
    name: str
    asn: int
    rack: str | None
    state: str
    """``up`` (every session), ``partial``, or ``down``."""
    sessions: tuple[SessionView, ...]
    covered: dict[int, float]
    """IP version -> since when this ToR's view of that family is complete."""
    paths: tuple[BgpPath, ...]
    gone: dict[IPNetwork, float]
    """Prefix -> when its last path on this ToR went away."""


class TorRib:
    def __init__(self, tor: TorPeer, *, versions: frozenset[int]) -> None:
        self.name = tor.name
        self.asn = tor.asn
        self.rack = tor.rack
        self.sessions = {peer: Session(peer, versions) for peer in tor.addresses}
        self.paths: dict[Key, BgpPath] = {}
        self.by_prefix: dict[IPNetwork, set[Key]] = {}
        self.gone: dict[IPNetwork, float] = {}

    def put(self, path: BgpPath) -> None:
        key = (path.peer, path.prefix, path.path_id)
        old = self.paths.get(key)
        if old is not None and old.next_hop == path.next_hop:
            path = dataclasses.replace(path, first_seen=old.first_seen)
        self.paths[key] = path
        self.by_prefix.setdefault(path.prefix, set()).add(key)
        self.gone.pop(path.prefix, None)
        for keys in self.sessions[path.peer].sweep.values():
            keys.discard(key)

    def drop(self, key: Key, *, at: float) -> None:
        if self.paths.pop(key, None) is None:
            return
        keys = self.by_prefix[key[1]]
        keys.discard(key)
        if not keys:
            del self.by_prefix[key[1]]
            self.gone[key[1]] = at

    def keys_of(self, peer: IPAddress, version: int | None = None) -> list[Key]:
        return [
            k for k in self.paths if k[0] == peer and (version is None or k[1].version == version)
        ]

    def view(self, *, now: float, sync_timeout: float) -> TorView:
        sessions = tuple(
            SessionView(s.peer, s.state, s.since, s.reason) for s in self.sessions.values()
        )
        up = sum(s.state == "up" for s in sessions)
        state = "up" if up == len(sessions) else "down" if up == 0 else "partial"
        covered: dict[int, float] = {}
        for session in self.sessions.values():
            for version in session.versions:
                ready = _ready(session, version, now=now, sync_timeout=sync_timeout)
                if ready is not None:
                    covered[version] = min(ready, covered.get(version, ready))
        return TorView(
            name=self.name,
            asn=self.asn,
            rack=self.rack,
            state=state,
            sessions=sessions,
            covered=covered,
            paths=tuple(self.paths.values()),
            gone=dict(self.gone),
        )


def _ready(session: Session, version: int, *, now: float, sync_timeout: float) -> float | None:
    if session.state != "up":
        return None
    asked = session.refresh_wait.get(version)
    if asked is not None and now < asked + sync_timeout:
        return None
    ready = session.eor_at.get(version)
    if ready is None:
        if now < session.since + sync_timeout:
            return None
        ready = session.since + sync_timeout
    return ready if asked is None else max(ready, asked)


class Rib:
    """The RIB of every ToR. Feed it events with :meth:`apply`; read it with :meth:`snapshot`."""

    def __init__(
        self,
        tors: Sequence[TorPeer],
        *,
        versions: Iterable[int] = (4, 6),
        scope: Iterable[IPNetwork] = (),
        stale_seconds: float,
        sync_timeout: float,
    ) -> None:
        wanted = frozenset(versions)
        self.tors = {t.name: TorRib(t, versions=wanted) for t in tors}
        self.by_peer = {peer: rib for rib in self.tors.values() for peer in rib.sessions}
        self.scope: tuple[IPNetwork, ...] = tuple(scope)
        self.stale_seconds = stale_seconds
        self.sync_timeout = sync_timeout

    def in_scope(self, prefix: IPNetwork) -> bool:
        return within(prefix, self.scope)

    def set_scope(self, cidrs: Iterable[IPNetwork], *, now: float) -> bool:
        """Keep only paths inside ``cidrs``; True when the scope grew (ask for a refresh)."""
        new = tuple(sorted(set(cidrs), key=lambda c: (c.version, c)))
        old = self.scope
        self.scope = new
        for rib in self.tors.values():
            for key in [k for k in rib.paths if not self.in_scope(k[1])]:
                rib.drop(key, at=now)
            for prefix in [p for p in rib.gone if not self.in_scope(p)]:
                del rib.gone[prefix]
        return any(not within(c, old) for c in new)

    def refresh_asked(self, peer: IPAddress, version: int, *, now: float) -> None:
        """The collector asked ``peer`` to resend ``version``: incomplete until it has."""
        rib = self.by_peer.get(peer)
        if rib is not None and rib.sessions[peer].state == "up":
            rib.sessions[peer].refresh_wait[version] = now

    def apply(self, event: m.Event, *, now: float) -> bool:
        """Apply one event; False when it is not about a known ToR session."""
        if isinstance(event, m.Ack | m.Ignored | m.Notification):
            return True
        rib = self.by_peer.get(event.peer)
        if rib is None:
            return False
        session = rib.sessions[event.peer]
        if isinstance(event, m.Update):
            self._update(rib, event)
        elif isinstance(event, m.State):
            self._state(rib, session, event)
        elif isinstance(event, m.Negotiated):
            session.versions = event.versions
        elif isinstance(event, m.EndOfRib):
            session.eor_at[event.version] = event.at
            for key in rib.keys_of(event.peer, event.version):
                if rib.paths[key].stale_since is not None:
                    rib.drop(key, at=event.at)
        elif isinstance(event, m.Refresh):
            self._refresh(rib, session, event)
        return True

    def _update(self, rib: TorRib, event: m.Update) -> None:
        for w in event.withdrawn:
            rib.drop((event.peer, w.prefix, w.path_id), at=event.at)
        for a in event.announced:
            if self.in_scope(a.prefix):
                rib.put(
                    BgpPath(
                        rib.name,
                        event.peer,
                        a.prefix,
                        a.path_id,
                        a.next_hop,
                        event.as_path,
                        event.at,
                    )
                )

    def _state(self, rib: TorRib, session: Session, event: m.State) -> None:
        was_up = session.state == "up"
        session.state, session.since, session.reason = event.state, event.at, event.reason
        if event.state == "up":
            session.eor_at.clear()
            return
        if event.state == "down" or was_up:
            self._session_lost(rib, session, at=event.at)

    def _session_lost(self, rib: TorRib, session: Session, *, at: float) -> None:
        session.state = "down"
        session.eor_at.clear()
        session.refresh_wait.clear()
        session.sweep.clear()
        for key in rib.keys_of(session.peer):
            if self.stale_seconds <= 0:
                rib.drop(key, at=at)
            elif rib.paths[key].stale_since is None:
                rib.paths[key] = dataclasses.replace(rib.paths[key], stale_since=at)

    def _refresh(self, rib: TorRib, session: Session, event: m.Refresh) -> None:
        if event.subtype == "begin":
            session.sweep[event.version] = set(rib.keys_of(event.peer, event.version))
            return
        for key in session.sweep.pop(event.version, set()):
            rib.drop(key, at=event.at)
        session.refresh_wait.pop(event.version, None)

    def process_lost(self, *, now: float, reason: str) -> None:
        """ExaBGP exited: every session is down."""
        for rib in self.tors.values():
            for session in rib.sessions.values():
                if session.state != "down":
                    session.reason = reason
                    session.since = now
                self._session_lost(rib, session, at=now)

    def expire(self, *, now: float) -> None:
        """Forget stale paths older than ``stale_seconds``."""
        for rib in self.tors.values():
            old = [
                k
                for k, p in rib.paths.items()
                if p.stale_since is not None and now - p.stale_since >= self.stale_seconds
            ]
            for key in old:
                rib.drop(key, at=now)

    def snapshot(self, *, now: float) -> tuple[TorView, ...]:
        self.expire(now=now)
        return tuple(
            rib.view(now=now, sync_timeout=self.sync_timeout) for rib in self.tors.values()
        )

    def peers_up(self) -> list[IPAddress]:
        return [p for p, rib in self.by_peer.items() if rib.sessions[p].state == "up"]
