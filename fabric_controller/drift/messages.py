"""ExaBGP 5.0 API lines -> typed events. Pure: no I/O.

The collector's ExaBGP writes one JSON object per line (``encoder json``), plus bare
``done`` / ``error`` / ``shutdown`` acknowledgements. The shapes handled here were
recorded from ExaBGP 5.0.15 against BIRD 2 (see fabric-lab notes, section 6):

* ``state``: ``neighbor.state`` is ``connected``, ``up`` or ``down`` (with ``reason``);
* ``negotiated``: ``neighbor.negotiated.families`` lists the families of the session;
* ``update`` with ``message.update``: ``announce[<family>][<next-hop>]`` is a list of
  ``{"nlri": ..., "path-information": "0.0.0.7"}`` and ``withdraw[<family>]`` a list of
  ``{"nlri": ...}``; the path identifier is a 32-bit number written as a dotted quad
  (an IPv6 path with a global and a link-local next hop is listed under both);
* ``update`` with ``message.eor``: End-of-RIB for ``afi``/``safi``;
* ``refresh``: enhanced route refresh markers, ``subtype`` ``begin`` or ``end``;
* ``notification``: what the ToR said when it closed the session.

ExaBGP 4.2's list-form ``as-path`` is accepted too. Only unicast IPv4 and IPv6 are kept.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fabric_controller.drift.errors import MessageError
from fabric_controller.drift.settings import IPAddress, IPNetwork

ACKS = frozenset({"done", "error", "shutdown"})
FAMILIES = {"ipv4 unicast": 4, "ipv6 unicast": 6}


@dataclass(frozen=True, slots=True)
class Ack:
    text: str


@dataclass(frozen=True, slots=True)
class State:
    peer: IPAddress
    at: float
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Negotiated:
    peer: IPAddress
    at: float
    versions: frozenset[int]
    add_path: bool


@dataclass(frozen=True, slots=True)
class Announce:
    prefix: IPNetwork
    path_id: int
    next_hop: IPAddress


@dataclass(frozen=True, slots=True)
class Withdraw:
    prefix: IPNetwork
    path_id: int


@dataclass(frozen=True, slots=True)
class Update:
    peer: IPAddress
    at: float
    as_path: tuple[int, ...]
    announced: tuple[Announce, ...]
    withdrawn: tuple[Withdraw, ...]


@dataclass(frozen=True, slots=True)
class EndOfRib:
    peer: IPAddress
    at: float
    version: int


@dataclass(frozen=True, slots=True)
class Refresh:
    peer: IPAddress
    at: float
    version: int
    subtype: str
    """``begin`` or ``end`` (enhanced route refresh, RFC 7313)."""


@dataclass(frozen=True, slots=True)
class Notification:
    peer: IPAddress
    at: float
    code: int
    subcode: int
    message: str


@dataclass(frozen=True, slots=True)
class Ignored:
    kind: str


Event = Ack | State | Negotiated | Update | EndOfRib | Refresh | Notification | Ignored


def parse_line(line: str, *, now: float) -> Event:
    """One API line -> one event. Raises :class:`MessageError` for what cannot be read."""
    text = line.strip()
    if text in ACKS:
        return Ack(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MessageError(f"not JSON: {text[:120]!r}") from exc
    if not isinstance(data, dict):
        raise MessageError(f"not a JSON object: {text[:120]!r}")
    try:
        return _event(data, now=now)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MessageError(f"unexpected {data.get('type')!r} message: {exc!r}") from exc


def _event(data: dict[str, Any], *, now: float) -> Event:
    kind = data.get("type")
    neighbor = data.get("neighbor")
    if not isinstance(neighbor, dict) or not isinstance(kind, str):
        return Ignored(str(kind))
    peer = ipaddress.ip_address(neighbor["address"]["peer"])
    at = float(data.get("time", now))
    if kind == "state":
        return State(peer, at, str(neighbor["state"]), str(neighbor.get("reason", "")))
    if kind == "negotiated":
        negotiated = neighbor["negotiated"]
        families = negotiated.get("families", [])
        if not isinstance(families, list):
            raise TypeError(f"families {families!r}")
        receive = negotiated.get("add_path", {}).get("receive", [])
        return Negotiated(peer, at, versions(families), add_path=bool(receive))
    if kind == "notification":
        note = neighbor["notification"]
        return Notification(
            peer, at, int(note["code"]), int(note["subcode"]), str(note.get("message", ""))
        )
    if kind == "refresh":
        refresh = neighbor["route-refresh"]
        version = FAMILIES.get(f"{refresh['afi']} {refresh['safi']}")
        if version is None:
            return Ignored("refresh")
        return Refresh(peer, at, version, str(refresh["subtype"]))
    if kind == "update" and neighbor.get("direction", "receive") == "receive":
        return _update(peer, at, neighbor["message"])
    return Ignored(kind)


def _update(peer: IPAddress, at: float, message: dict[str, Any]) -> Event:
    if "eor" in message:
        eor = message["eor"]
        version = FAMILIES.get(f"{eor['afi']} {eor['safi']}")
        return Ignored("eor") if version is None else EndOfRib(peer, at, version)
    update = message["update"]
    announced: list[Announce] = []
    for family, by_next_hop in update.get("announce", {}).items():
        if family not in FAMILIES:
            continue
        for next_hop, nlris in by_next_hop.items():
            hop = ipaddress.ip_address(next_hop)
            for nlri in nlris:
                prefix, path_id = _nlri(nlri)
                announced.append(Announce(prefix, path_id, hop))
    withdrawn = [
        Withdraw(*_nlri(nlri))
        for family, nlris in update.get("withdraw", {}).items()
        if family in FAMILIES
        for nlri in nlris
    ]
    as_path = _as_path(update.get("attribute", {}).get("as-path", []))
    return Update(peer, at, as_path, _global_next_hops(announced), tuple(withdrawn))


def _global_next_hops(announced: list[Announce]) -> tuple[Announce, ...]:
    """Drop the link-local twin of a path that also has a global next hop.

    A ToR on a shared link may send an IPv6 next hop as a global address *and* its own
    link-local one (RFC 2545; FRR does). ExaBGP 5.0 then lists the NLRI once under each
    (recorded: ``"fd00:10::13": [...], "fe80::48b7:43ff:fed8:be02": [...]``, same path
    id), so the link-local copy would replace the path. The global one is the node's
    address, what IPAM knows and what the drift report compares.
    """
    with_global = {(a.prefix, a.path_id) for a in announced if not a.next_hop.is_link_local}
    return tuple(
        a
        for a in announced
        if not (a.next_hop.is_link_local and (a.prefix, a.path_id) in with_global)
    )


def _nlri(nlri: object) -> tuple[IPNetwork, int]:
    """``{"nlri": "10.244.1.0/26", "path-information": "0.0.0.7"}`` -> (prefix, 7)."""
    if isinstance(nlri, str):
        return ipaddress.ip_network(nlri), 0
    if not isinstance(nlri, dict):
        raise TypeError(f"nlri {nlri!r}")
    path_info = nlri.get("path-information")
    path_id = 0 if path_info is None else int(ipaddress.IPv4Address(path_info))
    return ipaddress.ip_network(nlri["nlri"]), path_id


def _as_path(raw: object) -> tuple[int, ...]:
    """5.0: ``{"0": {"element": "as-sequence", "value": [...]}}``; 4.2: ``[...]``.

    Segments are flattened in order; the origin AS is the last element.
    """
    if isinstance(raw, list):
        return tuple(int(asn) for asn in raw)
    if not isinstance(raw, dict):
        raise TypeError(f"as-path {raw!r}")
    out: list[int] = []
    for key in sorted(raw, key=int):
        out.extend(int(asn) for asn in raw[key]["value"])
    return tuple(out)


def versions(families: Iterable[str]) -> frozenset[int]:
    """IP versions of the unicast families in ``families`` (others are ignored)."""
    return frozenset(FAMILIES[f] for f in families if f in FAMILIES)
