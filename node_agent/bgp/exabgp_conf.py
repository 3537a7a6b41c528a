"""ExaBGP's configuration and environment, rendered from the agent's BGP settings.

Pure: the MD5 passwords arrive already read (the speaker reads the files). A
:class:`Session` is a :class:`~node_agent.bgp.settings.BgpPeer` with every default
resolved against the node's addresses, so the rest of the speaker never has to guess a
local address or a next hop.

Two settings carry the graceful-restart recipe (fabric-lab.md section 7):

* ``manual-eor true``: ExaBGP's automatic End-of-RIB goes out as soon as the session
  opens, when a freshly started ExaBGP has no routes yet, and the ToR would flush every
  stale route of the node. The speaker sends End-of-RIB itself after its replay.
* ``capability { graceful-restart N; }``: the ToR keeps the node's routes for N seconds
  while the session is down (agent or ExaBGP restart), so a restart changes nothing.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from node_agent.bgp.commands import FAMILIES, IPV4_UNICAST, IPV6_UNICAST, Address
from node_agent.bgp.settings import BgpPeer
from node_agent.errors import BgpConfigError

PROCESS_NAME = "agent"
MD5_MAX_LEN = 80  # TCP_MD5SIG_MAXKEYLEN
_MD5_CHARS = frozenset(string.ascii_letters + string.digits + "!$%&()*+,-./:<=>?@[]^_`|~")


@dataclass(frozen=True)
class Session:
    """One ToR session with every default resolved."""

    peer: Address
    local_address: Address
    router_id: IPv4Address
    local_as: int
    peer_as: int
    hold_time: int
    graceful_restart: int
    families: tuple[str, ...]
    next_hops: Mapping[str, Address]
    """Next hop announced per family carried on this session."""
    md5_password: str | None = None


def resolve_sessions(
    peers: Sequence[BgpPeer],
    *,
    node_addresses: Sequence[Address],
    passwords: Mapping[Path, str],
) -> list[Session]:
    """Resolve ``peers`` against the node's addresses; raise :class:`BgpConfigError`."""
    seen: set[Address] = set()
    sessions = []
    for peer in peers:
        if peer.address in seen:
            raise BgpConfigError(f"bgp peer {peer.address} is listed twice")
        seen.add(peer.address)
        sessions.append(_resolve(peer, node_addresses=node_addresses, passwords=passwords))
    return sessions


def _resolve(
    peer: BgpPeer, *, node_addresses: Sequence[Address], passwords: Mapping[Path, str]
) -> Session:
    v4 = next((a for a in node_addresses if isinstance(a, IPv4Address)), None)
    v6 = next((a for a in node_addresses if isinstance(a, IPv6Address)), None)
    local = peer.local_address or (v4 if peer.address.version == 4 else v6)
    if local is None or local.version != peer.address.version:
        raise BgpConfigError(f"bgp peer {peer.address}: no local address of its family")
    router_id = peer.router_id or v4 or (local if isinstance(local, IPv4Address) else None)
    if router_id is None:
        raise BgpConfigError(f"bgp peer {peer.address}: no IPv4 address to use as router id")
    families = tuple(dict.fromkeys(peer.families))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise BgpConfigError(f"bgp peer {peer.address}: families must be among {FAMILIES}")
    next_hops: dict[str, Address] = {}
    for family, explicit, node in (
        (IPV4_UNICAST, peer.next_hop_ipv4, v4),
        (IPV6_UNICAST, peer.next_hop_ipv6, v6),
    ):
        if family not in families:
            continue
        same = local if local.version == (4 if family == IPV4_UNICAST else 6) else None
        chosen = explicit or same or node
        if chosen is None:
            raise BgpConfigError(f"bgp peer {peer.address}: no next hop for {family}")
        next_hops[family] = chosen
    password = None
    if peer.md5_password_file is not None:
        password = check_password(peer.address, passwords.get(peer.md5_password_file, ""))
    return Session(
        peer=peer.address,
        local_address=local,
        router_id=router_id,
        local_as=peer.local_as,
        peer_as=peer.peer_as,
        hold_time=peer.hold_time,
        graceful_restart=peer.graceful_restart,
        families=families,
        next_hops=next_hops,
        md5_password=password,
    )


def check_password(peer: Address, password: str) -> str:
    """The password if it fits TCP MD5 and ExaBGP's config syntax, else BgpConfigError."""
    if not 1 <= len(password) <= MD5_MAX_LEN:
        raise BgpConfigError(f"bgp peer {peer}: MD5 password must be 1-{MD5_MAX_LEN} characters")
    if not set(password) <= _MD5_CHARS:
        raise BgpConfigError(
            f"bgp peer {peer}: MD5 password may hold letters, digits and punctuation "
            "other than quotes, '#', ';', '\\\\', braces and spaces"
        )
    return password


def render(sessions: Sequence[Session], *, process_argv: Sequence[str]) -> str:
    """The ``exabgp.conf`` text: one API process (the bridge) and one neighbor per session."""
    if any(ch.isspace() or ch == ";" for arg in process_argv for ch in arg):
        raise BgpConfigError("the API bridge command may not contain spaces or ';'")
    lines = [
        "# Generated by the flatnet node agent; do not edit.",
        f"process {PROCESS_NAME} {{",
        f"    run {' '.join(process_argv)};",
        "    encoder json;",
        "}",
    ]
    for session in sessions:
        lines.append("")
        lines.extend(_neighbor(session))
    return "\n".join(lines) + "\n"


def _neighbor(s: Session) -> list[str]:
    capability = ["        route-refresh;"]
    if s.graceful_restart:
        capability.insert(0, f"        graceful-restart {s.graceful_restart};")
    out = [
        f"neighbor {s.peer} {{",
        f'    description "flatnet-{s.peer}";',
        f"    router-id {s.router_id};",
        f"    local-address {s.local_address};",
        f"    local-as {s.local_as};",
        f"    peer-as {s.peer_as};",
        f"    hold-time {s.hold_time};",
        "    group-updates false;",
        "    manual-eor true;",
    ]
    if s.md5_password is not None:
        out.append(f'    md5-password "{s.md5_password}";')
    out += ["    capability {", *capability, "    }", "    family {"]
    out += [f"        {family};" for family in s.families]
    out += [
        "    }",
        "    api {",
        f"        processes [ {PROCESS_NAME} ];",
        "        neighbor-changes;",
        "        receive { parsed; update; notification; }",
        "    }",
        "}",
    ]
    return out


def environment(*, user: str, log_level: str, path: str) -> dict[str, str]:
    """ExaBGP's whole environment (fabric-lab.md section 4.5): nothing else is inherited.

    A clean environment keeps a stray ``exabgp_cli_pipe`` or ``/etc/exabgp/exabgp.env``
    setting from turning ExaBGP into something else; every setting that matters is here.
    """
    return {
        "PATH": path,
        "exabgp.daemon.user": user,
        "exabgp.daemon.daemonize": "false",
        "exabgp.api.ack": "true",
        "exabgp.api.cli": "false",
        "exabgp.api.respawn": "true",
        "exabgp.log.destination": "stdout",
        "exabgp.log.level": log_level,
        "exabgp.log.statistics": "false",
        "exabgp.tcp.bind": "",
    }
