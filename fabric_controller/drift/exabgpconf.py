"""The collector's ExaBGP config, environment and API commands, rendered. Pure.

One ``neighbor`` per ToR address, each passive (the ToR dials in) and listening on the
collector's address of that family. The collector is receive-only: no static routes,
and the only command it ever sends is a route refresh. ``add-path receive`` makes the
ToR send every path, not just its best; ``graceful-restart`` is advertised because FRR
answers route refresh only to peers that have it (FRRouting/frr#16126).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from fabric_controller.drift.errors import CollectorConfigError
from fabric_controller.drift.settings import CollectorSettings, IPAddress, TorPeer

PROCESS = "collector"
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_./:@+=,-]+$")
_SAFE_TEXT = re.compile(r'^[^"\\;{}\n\r]*$')


def _word(value: str, what: str) -> str:
    if not _SAFE_WORD.fullmatch(value):
        raise CollectorConfigError(f"{what} {value!r} cannot be written into an ExaBGP config")
    return value


def _text(value: str, what: str) -> str:
    if not _SAFE_TEXT.fullmatch(value):
        raise CollectorConfigError(
            f"{what} contains a quote, backslash, semicolon, brace or newline", field=what
        )
    return value


def render_config(
    settings: CollectorSettings,
    *,
    relay: Sequence[str],
    passwords: Mapping[str, str] | None = None,
) -> str:
    """The whole ExaBGP config. ``relay`` is the argv of the relay process ExaBGP runs."""
    run = " ".join(_word(arg, "relay argument") for arg in relay)
    blocks = [f"process {PROCESS} {{\n    run {run};\n    encoder json;\n}}\n"]
    for tor in settings.tors:
        secret = (passwords or {}).get(tor.name)
        for address in tor.addresses:
            blocks.append(_neighbor(settings, tor, address, secret))
    return "\n".join(blocks)


def _neighbor(
    settings: CollectorSettings, tor: TorPeer, address: IPAddress, secret: str | None
) -> str:
    families = "".join(f"        {_text(f, 'collector.families')};\n" for f in settings.families)
    md5 = "" if secret is None else f'    md5-password "{_text(secret, "md5 password")}";\n'
    gr = settings.graceful_restart
    return (
        f"neighbor {address} {{\n"
        f'    description "{_text(tor.name, "tor name")}";\n'
        f"    router-id {settings.router_id};\n"
        f"    local-address {settings.local_address(address)};\n"
        f"    local-as {settings.local_as};\n"
        f"    peer-as {tor.asn};\n"
        f"    hold-time {settings.hold_time};\n"
        f"    passive true;\n"
        f"    listen {settings.listen_port};\n"
        f"    group-updates false;\n"
        f"    adj-rib-in false;\n"
        f"{md5}"
        f"    capability {{\n"
        f"        route-refresh;\n"
        + (f"        graceful-restart {gr};\n" if gr else "")
        + "        add-path receive;\n"
        f"    }}\n"
        f"    family {{\n{families}    }}\n"
        f"    api {{\n"
        f"        processes [ {PROCESS} ];\n"
        f"        neighbor-changes;\n"
        f"        negotiated;\n"
        f"        receive {{ parsed; update; refresh; notification; }}\n"
        f"    }}\n"
        f"}}\n"
    )


def environment(settings: CollectorSettings, *, user: str, path: str) -> dict[str, str]:
    """ExaBGP's whole environment: every setting explicit, nothing inherited.

    ``exabgp.daemon.user`` is the controller's own user, so the relay ExaBGP spawns can
    reach the controller's socket; ``exabgp.tcp.bind`` stays empty because every
    neighbour listens on its own address (``listen``); acks stay on and are read.
    """
    return {
        "PATH": path,
        "exabgp.daemon.user": user,
        "exabgp.daemon.daemonize": "false",
        "exabgp.daemon.drop": "true",
        "exabgp.api.cli": "false",
        "exabgp.api.ack": "true",
        "exabgp.api.encoder": "json",
        "exabgp.api.respawn": "true",
        "exabgp.log.destination": "stdout",
        "exabgp.log.level": settings.exabgp_log_level,
        "exabgp.log.statistics": "false",
        "exabgp.log.short": "true",
        "exabgp.tcp.bind": "",
        "exabgp.tcp.port": str(settings.listen_port),
    }


def argv(settings: CollectorSettings, *, config: Path) -> list[str]:
    """The command that runs ExaBGP (inside ``settings.netns`` when one is named)."""
    command = [str(settings.exabgp), "server", str(config)]
    if settings.netns:
        return ["ip", "netns", "exec", _word(settings.netns, "netns"), *command]
    return command


def refresh_command(peer: IPAddress, version: int) -> str:
    """Ask ``peer`` to resend its table of one family (ROUTE-REFRESH)."""
    return f"neighbor {peer} announce route-refresh ipv{version} unicast"
