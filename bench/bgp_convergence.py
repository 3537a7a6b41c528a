"""Fabric routing: from an announcement to the route in the ToR's kernel FIB.

For each ToR daemon (BIRD 2, FRR 8.4) one lab with two nodes is built. node1 runs the
agent's speaker (``ExabgpSpeaker``: asyncio, unix socket, bridge, ExaBGP); node2 runs a
bare ExaBGP whose API process writes the command it reads from a FIFO (no agent code).
Both announce the same prefix, alternately, so they never overlap. The ToR's kernel
routes are watched with ``ip -ts monitor route``; every timestamp is wall-clock time on
the same host.

* agent: t0 just before ``speaker.announce()``; t1 the kernel's RTM_NEWROUTE.
* bare: t0 when the bare process writes the command to ExaBGP; t1 the same.

Fabric scale: node1 holds 256 blocks. Reported: a cold start (new speaker, empty ToR),
a hitless agent restart (old speaker stopped, new one started and synced; the ToR keeps
the routes, the figure is the time until it has re-learnt all of them and ended
graceful restart, and the kernel route changes, which must be 0), and a ToR restart.

    python -m bench.bgp_convergence [--runs 50] [--blocks 256] [--tors bird,frr]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Network, ip_network
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.harness import pct
from flatnet.lab import BareExabgp, Lab, LabSettings, RouteWatch
from flatnet.lab.bare import LogLine
from flatnet.lab.lab import TorKind
from node_agent.bgp.settings import BgpPeer, BgpSettings
from node_agent.bgp.speaker import ExabgpSpeaker

PREFIX = ip_network("10.244.200.0/26")
LIMIT = 60.0
PAUSE = 0.05
"""Seconds between runs, so that one run's tail never overlaps the next."""


def row(name: str, samples: list[float]) -> dict[str, float | str | int]:
    ms = [s * 1000 for s in samples]
    return {
        "name": name,
        "n": len(ms),
        "min_ms": min(ms),
        "p50_ms": statistics.median(ms),
        "p90_ms": pct(ms, 0.9),
        "max_ms": max(ms),
    }


def speaker_for(lab: Lab, node: str, state: str) -> ExabgpSpeaker:
    plan = lab.topology.node(node)
    return ExabgpSpeaker(
        peers=[BgpPeer.model_validate(p) for p in lab.node_peers(node)],
        settings=BgpSettings(ack_timeout=LIMIT),
        state_dir=lab.directory / f"{node}-{state}",
        node_addresses=[plan.links[0].ipv4.ip, plan.links[0].ipv6.ip],
        registry=CollectorRegistry(),
        wrapper=["ip", "netns", "exec", plan.netns],
    )


async def wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.005)
    raise RuntimeError(f"timed out waiting for {what}")


async def route_event(watch: RouteWatch, *, after: int, deleted: bool) -> float:
    def seen() -> bool:
        return any(e.prefix == str(PREFIX) and e.deleted is deleted for e in watch.events()[after:])

    await wait(seen, f"{'withdrawal' if deleted else 'route'} of {PREFIX}")
    return next(
        e.at for e in watch.events()[after:] if e.prefix == str(PREFIX) and e.deleted is deleted
    )


async def agent_run(speaker: ExabgpSpeaker, watch: RouteWatch) -> tuple[float, float, float, float]:
    """(announce -> FIB, announce -> ack, ack -> FIB, withdraw -> FIB) for the speaker."""
    mark = len(watch.events())
    t0 = time.time()
    await speaker.announce(PREFIX)
    acked = time.time()
    added = await route_event(watch, after=mark, deleted=False)
    await asyncio.sleep(PAUSE)
    mark = len(watch.events())
    t1 = time.time()
    await speaker.withdraw(PREFIX)
    removed = await route_event(watch, after=mark, deleted=True)
    return added - t0, acked - t0, added - acked, removed - t1


async def bare_run(bare: BareExabgp, watch: RouteWatch) -> tuple[float, float]:
    """(announce -> FIB, withdraw -> FIB) for the bare ExaBGP."""
    result = []
    for verb, deleted in (("announce", False), ("withdraw", True)):
        mark, lines = len(watch.events()), len(bare.lines())
        command = f"neighbor 10.10.0.1 {verb} route {PREFIX}" + (
            "" if deleted else " next-hop self"
        )
        bare.send(command)
        at = await route_event(watch, after=mark, deleted=deleted)
        sent = bare.wait_line(partial(_is, command), limit=LIMIT, after=lines)
        result.append(at - sent.at)
        await asyncio.sleep(PAUSE)
    return result[0], result[1]


def _is(text: str, line: LogLine) -> bool:
    return line.text == text


async def convergence(lab: Lab, runs: int) -> list[dict[str, float | str | int]]:
    speaker = speaker_for(lab, "node1", "agent")
    bare = lab.bare_speaker("node2")
    await speaker.start()
    await speaker.sync([])
    bare.start()
    try:
        bare.wait_up(2, limit=LIMIT)
        await wait(lambda: all(p.state == "up" for p in speaker.status().peers), "sessions")
        fib, ack, after_ack, gone, bare_fib, bare_gone = [], [], [], [], [], []
        with lab.watch() as watch:
            for _ in range(runs):
                a, k, f, w = await agent_run(speaker, watch)
                fib.append(a)
                ack.append(k)
                after_ack.append(f)
                gone.append(w)
                await asyncio.sleep(PAUSE)
                b, bw = await bare_run(bare, watch)
                bare_fib.append(b)
                bare_gone.append(bw)
        return [
            row("agent: announce -> ToR FIB", fib),
            row("bare ExaBGP: announce -> ToR FIB", bare_fib),
            row("agent: announce -> ExaBGP ack", ack),
            row("agent: announce returned -> ToR FIB (< 0: FIB first)", after_ack),
            row("agent: withdraw -> gone from ToR FIB", gone),
            row("bare ExaBGP: withdraw -> gone from ToR FIB", bare_gone),
        ]
    finally:
        bare.stop()
        await speaker.stop()


def blocks(count: int) -> list[IPv4Network]:
    base = int(ip_network("10.244.0.0/26").network_address)
    return [IPv4Network((base + 64 * i, 26)) for i in range(count)]


async def scale(lab: Lab, count: int) -> dict[str, float | int]:
    held = blocks(count)
    wanted = {str(p) for p in held}
    out: dict[str, float | int] = {"blocks": count}

    node = lab.topology.node("node1")
    mine = {str(a.ip) for link in node.links for a in (link.ipv4, link.ipv6)}

    def all_in_fib() -> bool:
        return wanted <= set(lab.routes())

    # cold: a new speaker and a ToR that has nothing from this node
    speaker = speaker_for(lab, "node1", "scale-1")
    t0 = time.monotonic()
    await speaker.start()
    await wait(lambda: all(p.state == "up" for p in speaker.status().peers), "sessions")
    t_up = time.monotonic()
    await speaker.sync(held)
    t_acked = time.monotonic()
    await wait(all_in_fib, "all blocks in the FIB")
    t_fib = time.monotonic()
    out |= {
        "cold_start_to_all_in_fib_ms": (t_fib - t0) * 1000,
        "cold_sync_to_acked_ms": (t_acked - t_up) * 1000,
        "cold_sync_to_all_in_fib_ms": (t_fib - t_up) * 1000,
    }
    # hitless restart: the ToR keeps them; how long until it has re-learnt them all?
    with lab.watch() as watch:
        await speaker.stop()
        await wait(lambda: lab.tor().restarting(mine), "the ToR to enter graceful restart")
        replacement = speaker_for(lab, "node1", "scale-1")
        t0 = time.monotonic()
        await replacement.start()
        await replacement.sync(held)
        t_acked = time.monotonic()
        await wait(lambda: not lab.tor().restarting(mine), "the ToR to end graceful restart")
        t_done = time.monotonic()
        assert all_in_fib()
    out |= {
        "restart_start_to_replay_acked_ms": (t_acked - t0) * 1000,
        "restart_start_to_tor_relearnt_all_ms": (t_done - t0) * 1000,
        "restart_kernel_route_changes": len(watch.events(proto=lab.proto)),
    }
    # ToR restart: its FIB empties; the speaker is left alone
    lab.stop_tor()
    await wait(lambda: not lab.routes(), "the ToR's FIB to empty")
    t0 = time.monotonic()
    lab.start_tor()
    await wait(all_in_fib, "all blocks back in the FIB")
    out["tor_restart_to_all_in_fib_ms"] = (time.monotonic() - t0) * 1000
    await replacement.stop()
    return out


def table(rows: list[dict[str, float | str | int]]) -> str:
    cols = ["name", "n", "min_ms", "p50_ms", "p90_ms", "max_ms"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    report: dict[str, object] = {}
    kinds: list[TorKind] = [k for k in ("bird", "frr") if k in args.tors.split(",")]
    for kind in kinds:
        settings = LabSettings(import_limit=max(64, 2 * args.blocks))
        lab = Lab.up(settings, nodes=2, tor_kind=kind)
        try:
            rows = await convergence(lab, args.runs)
            ratio = float(rows[0]["p50_ms"]) / float(rows[1]["p50_ms"])
            scaled = await scale(lab, args.blocks)
        finally:
            lab.down()
        print(f"\n## ToR: {kind}\n\n{table(rows)}\n\nratio agent/bare p50: {ratio:.2f}")
        print(json.dumps(scaled, indent=2))
        report[kind] = {"convergence": rows, "ratio_p50": ratio, "scale": scaled}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=256)
    parser.add_argument("--tors", default="bird,frr")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.getLogger("flatnet").setLevel(logging.ERROR)  # session flaps are expected here
    report = asyncio.run(main_async(args))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
