"""The agent's end of the API bridge, driven by a fake bridge over a real unix socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node_agent.bgp.channel import ApiChannel, ChannelClosed
from node_agent.bgp.commands import Line, StateEvent, TextLine
from node_agent.errors import BgpConfigError

LIMIT = 5.0


class Harness:
    def __init__(self, path: Path) -> None:
        self.lines: list[Line] = []
        self.connects = 0
        self.acks: list[tuple[str, bool]] = []
        self.channel = ApiChannel(
            path=path,
            on_line=self.lines.append,
            on_connect=self._connected,
            on_ack=lambda command, ok, _elapsed: self.acks.append((command, ok)),
        )
        self.path = path

    def _connected(self) -> None:
        self.connects += 1

    async def bridge(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect as the bridge does and wait until the channel has seen it."""
        connection = await asyncio.open_unix_connection(str(self.path))
        await self.channel.wait_connected(LIMIT)
        return connection


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "api.sock")
    await h.channel.open()
    yield h
    await h.channel.close()


async def test_sending_without_a_bridge_fails_and_waiting_times_out(harness: Harness) -> None:
    assert not harness.channel.connected
    with pytest.raises(ChannelClosed):
        harness.channel.send("neighbor 10.10.0.1 announce eor ipv4 unicast")
    with pytest.raises(TimeoutError):
        await harness.channel.wait_connected(0.05)


async def test_acks_resolve_commands_in_fifo_order(harness: Harness) -> None:
    reader, writer = await harness.bridge()
    futures = [harness.channel.send(f"command {i}") for i in range(3)]
    for i in range(3):
        assert await asyncio.wait_for(reader.readline(), LIMIT) == f"command {i}\n".encode()
    writer.write(b"done\nerror\ndone\n")
    assert await asyncio.wait_for(asyncio.gather(*futures), LIMIT) == [True, False, True]
    assert harness.acks == [("command 0", True), ("command 1", False), ("command 2", True)]
    writer.close()


async def test_events_are_dispatched_and_a_failing_handler_does_not_stop_the_reader(
    tmp_path: Path,
) -> None:
    seen: list[Line] = []

    def handler(line: Line) -> None:
        seen.append(line)
        if isinstance(line, TextLine):
            raise RuntimeError("bug in a handler")

    channel = ApiChannel(path=tmp_path / "api.sock", on_line=handler, on_connect=lambda: None)
    await channel.open()
    try:
        _, writer = await asyncio.open_unix_connection(str(tmp_path / "api.sock"))
        await channel.wait_connected(LIMIT)
        state = {"type": "state", "neighbor": {"address": {"peer": "10.10.0.1"}, "state": "up"}}
        writer.write(b"some show output\n" + json.dumps(state).encode() + b"\n")
        future = channel.send("after")
        writer.write(b"done\n")
        assert await asyncio.wait_for(future, LIMIT) is True
        assert seen == [TextLine("some show output"), StateEvent(peer="10.10.0.1", state="up")]
        writer.close()
    finally:
        await channel.close()


async def test_a_lost_bridge_fails_the_commands_waiting_for_acks(harness: Harness) -> None:
    _, writer = await harness.bridge()
    future = harness.channel.send("neighbor 10.10.0.1 announce route 10.244.1.0/26 next-hop self")
    writer.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(future, LIMIT)
    assert not harness.channel.connected


async def test_a_new_bridge_replaces_the_old_one(harness: Harness) -> None:
    _, old = await harness.bridge()
    stale = harness.channel.send("old")
    reader, writer = await asyncio.open_unix_connection(str(harness.path))
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(stale, LIMIT)
    await harness.channel.wait_connected(LIMIT)
    fresh = harness.channel.send("new")
    assert await asyncio.wait_for(reader.readline(), LIMIT) == b"new\n"
    writer.write(b"done\n")
    assert await asyncio.wait_for(fresh, LIMIT) is True
    assert harness.connects == 2
    old.close()
    writer.close()


async def test_an_ack_for_no_command_is_ignored(harness: Harness) -> None:
    reader, writer = await harness.bridge()
    writer.write(b"done\nmarker\n")
    for _ in range(500):  # until the channel has read both lines
        if TextLine("marker") in harness.lines:
            break
        await asyncio.sleep(0.01)
    future = harness.channel.send("real")
    await asyncio.wait_for(reader.readline(), LIMIT)
    writer.write(b"error\n")
    # the stray 'done' arrived before the command was sent, so it answered nothing
    assert await asyncio.wait_for(future, LIMIT) is False
    writer.close()


def test_a_socket_path_too_long_for_a_unix_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BgpConfigError, match="too long"):
        ApiChannel(path=tmp_path / ("x" * 120), on_line=lambda _: None, on_connect=lambda: None)
