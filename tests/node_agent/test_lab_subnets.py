"""The lab's per-test subnets are valid networks for every process id."""

from __future__ import annotations

import ipaddress

from tests.node_agent.lab import unique_cidrs


def test_unique_cidrs_are_valid_for_every_pid_residue() -> None:
    seen: set[str] = set()
    for pid in range(0, 70_000, 97):
        v4, v6 = unique_cidrs(pid)
        assert ipaddress.ip_network(v4).prefixlen == 20
        assert ipaddress.ip_network(v4).subnet_of(ipaddress.ip_network("10.64.0.0/10"))
        assert ipaddress.ip_network(v6).prefixlen == 56
        seen.add(v4)
    assert len(seen) > 100


def test_unique_cidrs_do_not_repeat_within_one_process() -> None:
    drawn = [unique_cidrs(4242)[0] for _ in range(500)]
    assert len(set(drawn)) == len(drawn)
