"""Helpers for speaker tests: expected ToR routes and the zero-route-change check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from ipaddress import ip_network

from flatnet.lab import Lab
from node_agent.announcer import Prefix
from node_agent.bgp.speaker import ExabgpSpeaker
from tests.lab.harness import eventually

P4 = ip_network("10.244.1.0/26")
P6 = ip_network("fd00:244:1::/64")
HELD = [P4, P6]
VIA_NODE1 = {"10.244.1.0/26": {"10.10.0.11"}, "fd00:244:1::/64": {"fd00:10::11"}}


async def tor_routes_become(lab: Lab, expected: dict[str, set[str]], *, tor: int = 1) -> None:
    await eventually(lambda: lab.routes(tor) == expected, f"ToR {tor} routes == {expected}")


def sessions_up(speaker: ExabgpSpeaker) -> bool:
    status = speaker.status()
    return status.running and all(p.state == "up" for p in status.peers)


def acknowledged(speaker: ExabgpSpeaker, count: int) -> bool:
    return sessions_up(speaker) and all(
        p.prefixes_acknowledged == count for p in speaker.status().peers
    )


async def assert_hitless(
    lab: Lab,
    disrupt: Callable[[], Awaitable[ExabgpSpeaker]],
    *,
    marker: Prefix,
) -> None:
    """Run ``disrupt`` (which returns the speaker serving afterwards) under a route watch.

    Once the ToR has ended graceful restart, a marker prefix is announced: the ToR
    handles it after any flush the restart could have caused, so when the marker is in
    the FIB every change the restart made has been seen. The marker must be the only one.
    """
    with lab.watch() as watch:
        speaker = await disrupt()
        await eventually(lambda: not lab.tor().restarting(), "the ToR to end graceful restart")
        await speaker.announce(marker)
        await eventually(
            lambda: any(e.prefix == str(marker) for e in watch.events(proto=lab.proto)),
            "the marker route",
        )
    changes = [(e.deleted, e.prefix) for e in watch.events(proto=lab.proto)]
    assert changes == [(False, str(marker))], f"route changes at the ToR: {changes}"
