"""ExaBGP's text API, both ways: commands the agent writes, lines ExaBGP answers.

Pure: no I/O. ExaBGP (5.0, ``exabgp.api.ack=true``) answers every command line with
exactly one ack line, ``done`` or ``error``, and says ``shutdown`` when it stops. Every
other line on the API process's stdin is a JSON event (``encoder json``) or the text
output of a ``show`` command. :func:`parse_line` sorts them.

Commands always carry a ``neighbor <address>`` selector: without one, a command goes to
every neighbor bound to the process, which is never what a per-peer bookkeeping wants.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

Prefix = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

IPV4_UNICAST = "ipv4 unicast"
IPV6_UNICAST = "ipv6 unicast"
FAMILIES = (IPV4_UNICAST, IPV6_UNICAST)


def family_of(prefix: Prefix) -> str:
    """The AFI/SAFI pair a prefix travels in, in ExaBGP's words."""
    return IPV4_UNICAST if prefix.version == 4 else IPV6_UNICAST


def sorted_prefixes(prefixes: Iterable[Prefix]) -> list[Prefix]:
    """IPv4 first, then by address and length: a stable order for commands and logs."""
    return sorted(prefixes, key=lambda p: (p.version, int(p.network_address), p.prefixlen))


# -- commands -------------------------------------------------------------------------


def announce(peer: Address, prefixes: Sequence[Prefix], *, next_hop: Address) -> str:
    """One line announcing ``prefixes`` (all of one family) to ``peer`` via ``next_hop``."""
    _same_family(prefixes)
    if len(prefixes) == 1:
        return f"neighbor {peer} announce route {prefixes[0]} next-hop {next_hop}"
    nlri = " ".join(str(p) for p in prefixes)
    return f"neighbor {peer} announce attributes next-hop {next_hop} nlri {nlri}"


def withdraw(peer: Address, prefixes: Sequence[Prefix]) -> str:
    """One line withdrawing ``prefixes`` (all of one family) from ``peer``."""
    _same_family(prefixes)
    if len(prefixes) == 1:
        return f"neighbor {peer} withdraw route {prefixes[0]}"
    nlri = " ".join(str(p) for p in prefixes)
    return f"neighbor {peer} withdraw attributes nlri {nlri}"


def end_of_rib(peer: Address, family: str) -> str:
    """End-of-RIB for ``family`` (needs ``manual-eor true`` on the neighbor)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    return f"neighbor {peer} announce eor {family}"


def chunks(prefixes: Iterable[Prefix], size: int) -> Iterator[list[Prefix]]:
    """``prefixes`` split by family and into lists of at most ``size``, in sorted order."""
    if size < 1:
        raise ValueError("size must be at least 1")
    ordered = sorted_prefixes(prefixes)
    for version in (4, 6):
        same = [p for p in ordered if p.version == version]
        for start in range(0, len(same), size):
            yield same[start : start + size]


def _same_family(prefixes: Sequence[Prefix]) -> None:
    if not prefixes:
        raise ValueError("no prefix given")
    if len({p.version for p in prefixes}) != 1:
        raise ValueError("prefixes of one command must share a family")


# -- lines from ExaBGP ----------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """``done`` or ``error``: the answer to the oldest unanswered command."""

    ok: bool


@dataclass(frozen=True)
class Shutdown:
    """ExaBGP is stopping."""


@dataclass(frozen=True)
class StateEvent:
    """A session changed state: ``connected``, ``up`` or ``down`` (with a reason)."""

    peer: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class NotificationEvent:
    """A NOTIFICATION the peer sent; ``text`` is the RFC 8203 shutdown text, if any."""

    peer: str
    code: int
    subcode: int
    text: str = ""

    def describe(self) -> str:
        head = f"notification received ({self.code},{self.subcode})"
        return f"{head}: {self.text}" if self.text else head


@dataclass(frozen=True)
class UpdateEvent:
    """An UPDATE received from the peer (the ToR exports nothing to nodes, normally)."""

    peer: str
    announced: tuple[str, ...] = ()
    withdrawn: tuple[str, ...] = ()
    eor: str = ""


@dataclass(frozen=True)
class OtherEvent:
    """A JSON message of a type the agent does not act on (``refresh``, ``open``...)."""

    kind: str
    peer: str = ""


@dataclass(frozen=True)
class TextLine:
    """Anything else: the text output of a ``show`` command."""

    text: str


Line = Ack | Shutdown | StateEvent | NotificationEvent | UpdateEvent | OtherEvent | TextLine


def parse_line(raw: str) -> Line:
    """Sort one line of ExaBGP's output; never raises."""
    line = raw.strip()
    if line == "done":
        return Ack(ok=True)
    if line == "error":
        return Ack(ok=False)
    if line == "shutdown":
        return Shutdown()
    if not line.startswith("{"):
        return TextLine(line)
    try:
        message = json.loads(line)
    except ValueError:
        return TextLine(line)
    if not isinstance(message, dict):
        return TextLine(line)
    return _event(message, line)


def _event(message: dict[str, Any], line: str) -> Line:
    kind = str(message.get("type", ""))
    neighbor = _dict(message.get("neighbor"))
    peer = str(_dict(neighbor.get("address")).get("peer", ""))
    if kind == "state":
        return StateEvent(
            peer=peer, state=str(neighbor.get("state", "")), reason=str(neighbor.get("reason", ""))
        )
    if kind == "notification":
        note = _dict(neighbor.get("notification"))
        return NotificationEvent(
            peer=peer,
            code=_int(note.get("code")),
            subcode=_int(note.get("subcode")),
            text=_hex_text(str(note.get("data", ""))),
        )
    if kind == "update":
        return _update(peer, _dict(neighbor.get("message")))
    if kind:
        return OtherEvent(kind=kind, peer=peer)
    return TextLine(line)


def _update(peer: str, message: dict[str, Any]) -> UpdateEvent:
    eor = _dict(message.get("eor"))
    if eor:
        return UpdateEvent(peer=peer, eor=f"{eor.get('afi', '')} {eor.get('safi', '')}")
    update = _dict(message.get("update"))
    announced: list[str] = []
    for by_next_hop in _dict(update.get("announce")).values():
        for routes in _dict(by_next_hop).values():
            announced.extend(_nlri(routes))
    withdrawn: list[str] = []
    for routes in _dict(update.get("withdraw")).values():
        withdrawn.extend(_nlri(routes))
    return UpdateEvent(peer=peer, announced=tuple(announced), withdrawn=tuple(withdrawn))


def _nlri(routes: object) -> list[str]:
    if not isinstance(routes, list):
        return []
    return [str(r["nlri"]) for r in routes if isinstance(r, dict) and "nlri" in r]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _hex_text(data: str) -> str:
    """ExaBGP hex-encodes NOTIFICATION data (``0x5368...``); keep the printable text."""
    digits = data[2:] if data.lower().startswith("0x") else data
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return ""
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch.isprintable()).strip()
