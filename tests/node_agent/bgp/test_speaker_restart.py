"""Restarts that must be invisible to the fabric: ExaBGP killed, the speaker replaced.

Graceful restart with manual End-of-RIB: the ToR keeps the node's routes while the
session is down, the speaker replays everything on session up and only then sends
End-of-RIB. The ToR's kernel routes are watched over netlink throughout.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from ipaddress import ip_network

import pytest

from flatnet.lab import Lab
from node_agent.bgp.settings import BgpSettings
from node_agent.bgp.speaker import ExabgpSpeaker
from tests.lab.harness import eventually
from tests.node_agent.bgp.fabric import (
    HELD,
    VIA_NODE1,
    acknowledged,
    assert_hitless,
    sessions_up,
    tor_routes_become,
)

MARKER = ip_network("10.244.1.192/26")
SLOW_RESTART = BgpSettings(restart_backoff_min=1.0, ack_timeout=10.0)
"""One second before ExaBGP comes back: long enough to see the ToR in graceful restart."""


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
async def test_kill_9_of_exabgp_changes_no_route_at_the_tor(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tor_kind: str
) -> None:
    lab = make_lab(nodes=1, tor_kind=tor_kind)
    speaker = make_speaker(lab, settings=SLOW_RESTART)
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    first = speaker.status().pid
    assert first is not None

    async def kill_exabgp() -> ExabgpSpeaker:
        os.kill(first, signal.SIGKILL)
        await eventually(lab.tor().restarting, "the ToR to keep the routes as stale")
        await eventually(lambda: speaker.status().restarts == 1, "ExaBGP to be restarted")
        await eventually(lambda: acknowledged(speaker, 1), "the replay to be acknowledged")
        return speaker

    await assert_hitless(lab, kill_exabgp, marker=MARKER)
    assert speaker.status().pid not in (None, first)
    assert lab.routes() == VIA_NODE1 | {str(MARKER): {"10.10.0.11"}}


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
async def test_replacing_the_speaker_changes_no_route_at_the_tor(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tor_kind: str
) -> None:
    lab = make_lab(nodes=1, tor_kind=tor_kind)
    old = make_speaker(lab)
    await old.start()
    await old.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)

    async def restart_agent() -> ExabgpSpeaker:
        await old.stop()  # as the agent does on SIGTERM: no withdraw
        await eventually(lab.tor().restarting, "the ToR to keep the routes as stale")
        new = make_speaker(lab)  # same state directory, as a restarted agent
        await new.start()
        await eventually(lambda: sessions_up(new), "the new sessions")
        # until the agent says what it holds, End-of-RIB is withheld: routes stay stale
        assert lab.tor().restarting()
        await new.sync(HELD)
        return new

    await assert_hitless(lab, restart_agent, marker=MARKER)


async def test_without_a_sync_end_of_rib_still_goes_out_after_the_timeout(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1)
    old = make_speaker(lab)
    await old.start()
    await old.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    await old.stop()
    new = make_speaker(lab, settings=BgpSettings(first_sync_timeout=1.0))
    await new.start()
    await eventually(lambda: sessions_up(new), "the new sessions")
    # nobody syncs: after first_sync_timeout the restart ends and the stale routes go
    await tor_routes_become(lab, {})
    assert not lab.tor().restarting()


async def test_sync_after_an_exabgp_restart_drops_what_the_node_no_longer_holds(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1)
    speaker = make_speaker(lab, settings=SLOW_RESTART)
    await speaker.start()
    extra = ip_network("10.244.1.64/26")
    await speaker.sync([*HELD, extra])
    await tor_routes_become(lab, VIA_NODE1 | {str(extra): {"10.10.0.11"}})
    pid = speaker.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: speaker.status().restarts == 1, "ExaBGP to be restarted")
    await speaker.sync(HELD)  # the node released a block meanwhile
    await tor_routes_become(lab, VIA_NODE1)
    assert speaker.status().announced == sorted(str(p) for p in HELD)


@pytest.mark.parametrize("tor_kind", ["bird", "frr"])
async def test_a_restarted_tor_gets_the_routes_back_without_agent_action(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tor_kind: str
) -> None:
    lab = make_lab(nodes=1, tor_kind=tor_kind)
    speaker = make_speaker(lab)
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    lab.stop_tor()
    await tor_routes_become(lab, {})  # the daemon took its routes out of the kernel
    await eventually(lambda: not sessions_up(speaker), "the speaker to see the sessions drop")
    lab.start_tor()
    await tor_routes_become(lab, VIA_NODE1)
    await eventually(lambda: sessions_up(speaker), "the sessions back up")
    assert speaker.status().restarts == 0
