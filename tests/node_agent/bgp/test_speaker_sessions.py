"""Session shapes a fabric asks for: TCP MD5, dual-homed nodes, one session for both families."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from flatnet.lab import Lab
from node_agent.bgp.speaker import ExabgpSpeaker
from tests.lab.harness import LIMIT, eventually
from tests.node_agent.bgp.conftest import lab_peers
from tests.node_agent.bgp.fabric import (
    HELD,
    VIA_NODE1,
    acknowledged,
    sessions_up,
    tor_routes_become,
)


def md5_failures(netns: str) -> int:
    """The kernel's count of TCP segments dropped for a wrong MD5 signature."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "nstat", "-asz", "TcpExtTCPMD5Failure"],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=True,
    ).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExt"))


async def test_an_md5_session_comes_up_with_the_password_and_not_without_it(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker], tmp_path: Path
) -> None:
    lab = make_lab(nodes=2, passwords={"node1": "s3cret-md5", "node2": "n2-secret"})
    good, bad = tmp_path / "node1.md5", tmp_path / "node2.md5"
    good.write_text("s3cret-md5\n")
    bad.write_text("not-the-password\n")
    node1 = make_speaker(lab, peers=lab_peers(lab, "node1", md5_password_file=str(good)))
    node2 = make_speaker(lab, "node2", peers=lab_peers(lab, "node2", md5_password_file=str(bad)))
    await node1.start()
    await node1.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    tor_netns = lab.topology.tor(1).netns
    before = md5_failures(tor_netns)
    await node2.start()
    await node2.sync([])
    # the ToR drops node2's segments: the kernel counts them, the session never forms
    await eventually(lambda: md5_failures(tor_netns) > before, "MD5 failures at the ToR")
    assert not {"10.10.0.12", "fd00:10::12"} & lab.tor().established()
    assert {"10.10.0.11", "fd00:10::11"} <= lab.tor().established()
    assert all(p.state != "up" for p in node2.status().peers)


async def test_a_dual_homed_node_announces_to_both_tors_via_its_own_uplinks(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1, tors=2)
    speaker = make_speaker(lab)
    assert len(lab_peers(lab, "node1")) == 4
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1, tor=1)
    await tor_routes_become(
        lab, {"10.244.1.0/26": {"10.10.1.11"}, "fd00:244:1::/64": {"fd00:10:0:1::11"}}, tor=2
    )
    await eventually(lambda: sessions_up(speaker), "all four sessions")
    lab.stop_tor(2)  # one ToR fails: the other keeps forwarding, the status says which
    await eventually(
        lambda: (
            {p.peer for p in speaker.status().peers if p.state != "up"}
            == {"10.10.1.1", "fd00:10:0:1::1"}
        ),
        "the sessions to ToR 2 to be down",
    )
    assert lab.routes(1) == VIA_NODE1
    await speaker.withdraw(HELD[0])
    await tor_routes_become(lab, {"fd00:244:1::/64": {"fd00:10::11"}}, tor=1)
    lab.start_tor(2)
    await tor_routes_become(lab, {"fd00:244:1::/64": {"fd00:10:0:1::11"}}, tor=2)


async def test_one_session_can_carry_both_families_with_the_right_next_hops(
    make_lab: Callable[..., Lab], make_speaker: Callable[..., ExabgpSpeaker]
) -> None:
    lab = make_lab(nodes=1, combined=True)
    [peer] = lab_peers(lab, "node1")
    assert peer.families == ["ipv4 unicast", "ipv6 unicast"]
    speaker = make_speaker(lab)
    await speaker.start()
    await speaker.sync(HELD)
    await tor_routes_become(lab, VIA_NODE1)
    # a session-up replay may have written the announcements sync found already written:
    # ExaBGP's acks for those can come after the routes reach the ToR
    await eventually(lambda: acknowledged(speaker, 2), "both prefixes acknowledged")
    [status] = speaker.status().peers
    assert (status.prefixes_sent, status.prefixes_acknowledged) == (2, 2)
