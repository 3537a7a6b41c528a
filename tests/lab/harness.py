"""Labs for tests: brought up on demand, always brought down, nothing left behind.

Imported by the conftests of ``tests/lab`` and ``tests/node_agent/bgp``. Every test
that needs root, namespaces or a daemon goes through :func:`need_lab`, so it fails
under ``CI=true`` instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flatnet.lab import Lab, LabSettings
from flatnet.lab.shell import cmdline, ip
from tests.need import need_binary, need_root

LIMIT = 30.0
"""Seconds any wait in a lab test may take before the test fails."""
POLL = 0.02


def need_lab(tor_kind: str = "bird") -> None:
    need_root()
    need_binary("ip")
    if tor_kind == "bird":
        need_binary("bird")
        need_binary("birdc")
    else:
        need_binary("/usr/lib/frr/zebra")
        need_binary("/usr/lib/frr/bgpd")
        need_binary("vtysh")


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (leak check)."""
    pids = (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
    return [pid for pid in pids if pid != os.getpid() and text in cmdline(pid)]


def wait_for(check: Callable[[], bool], what: str, *, limit: float = LIMIT) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, *, limit: float = LIMIT
) -> None:
    """Poll ``check`` (sync or async) on the event loop until it holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Factory of labs; at teardown each is brought down and checked to be gone."""
    labs: list[Lab] = []

    def make(*, settings: LabSettings | None = None, **kw: Any) -> Lab:
        need_lab(kw.get("tor_kind", "bird"))
        lab = Lab.up(settings or LabSettings(), **kw)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.down()
    for lab in labs:
        namespaces = set(ip("netns", "list", timeout=10).split())
        assert not namespaces & set(lab.topology.namespaces()), "a lab namespace was left"
        assert not processes_mentioning(str(lab.directory)), "a lab process was left running"
        assert not lab.directory.exists()
