"""Parsing ``ip -ts monitor route`` lines."""

from __future__ import annotations

from datetime import datetime

import pytest

from flatnet.lab.routewatch import parse


@pytest.mark.parametrize(
    ("line", "deleted", "prefix"),
    [
        pytest.param(
            "[2026-11-26T19:44:27.691120] fd00:244:9::/64 via fd00:10::11 dev br0 proto bird",
            False,
            "fd00:244:9::/64",
            id="add",
        ),
        pytest.param(
            "[2026-11-26T19:44:27.689433] Deleted 10.244.9.0/26 proto bgp metric 20",
            True,
            "10.244.9.0/26",
            id="delete-multipath-head",
        ),
        pytest.param(
            "[2026-11-26T19:44:27.685821] blackhole 192.0.2.255 table 4242",
            False,
            "192.0.2.255",
            id="blackhole",
        ),
    ],
)
def test_route_lines(line: str, deleted: bool, prefix: str) -> None:
    event = parse(line)
    assert event is not None
    assert (event.deleted, event.prefix) == (deleted, prefix)
    stamp = line[1 : line.index("]")]
    assert event.at == datetime.fromisoformat(stamp).timestamp()


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("\tnexthop via 10.10.0.11 dev br0 weight 1", id="continuation"),
        pytest.param("[not a time] 10.0.0.0/8", id="bad-stamp"),
        pytest.param("[2026-11-26T19:44:27.685821] Deleted", id="empty"),
    ],
)
def test_other_lines_are_not_events(line: str) -> None:
    assert parse(line) is None
