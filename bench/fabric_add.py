"""Fabric routing through the whole agent: a pod's ADD that takes a new block, and 256 blocks.

One lab (``flatnet.lab.fabric``: BIRD or FRR ToR, IPAM on the embedded PostgreSQL, two
``flatnet agent run`` processes, the real CNI executable). Besides the default pools it
has an on-demand pool of /31 blocks, so that *every* ADD naming it claims a new block
(one usable address each): claim at IPAM, blackhole, announcement acknowledged by ExaBGP,
then the pod is wired and ADD returns. The ToR's kernel routes are timestamped by
``ip -ts monitor route``; all times are wall-clock on the same host.

* new block: t0 before the CNI executable starts, t1 when it exited with its result,
  tf the RTM_NEWROUTE of the block at the ToR. Reported: ADD latency (t1 - t0),
  **ADD returned -> ToR FIB (tf - t1; negative: the route was there first)**, t0 -> tf.
* reference, same run: ADDs into the default pool, whose block has free addresses (no
  claim, no announcement).

Fabric scale, once node1 holds ``--blocks`` /31 blocks (one pod each):

* hitless restart: SIGTERM the agent, start it again; time until the ToR ended graceful
  restart for node1, and the number of kernel route changes (must be 0);
* drained restart: ``flatnet agent drain`` (the ToR drops everything of node1), stop, start
  again; time from the new agent process to the last block in the ToR's FIB;
* reference, same run: a bare ExaBGP (no agent code) as node2 started from nothing and
  announcing as many /31s in one line as soon as its session is up; process start to the
  last one in the FIB;
* ToR restart: BIRD/FRR stopped (its FIB empties) and started; time until all are back,
  with no agent action.

    python -m bench.fabric_add [--blocks 256] [--reference 50] [--tor bird] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from bench.bgp_convergence import row, table
from flatnet.lab import LabPool, LabSettings, RouteWatch
from flatnet.lab.fabric import Fabric
from flatnet.lab.lab import TorKind

TINY = "lab-tiny"
TINY_CIDR = IPv4Network("10.244.128.0/17")
BARE_SPACE = IPv4Network("10.244.224.0/19")
"""Where the bare ExaBGP's /31s come from: inside the tiny pool, far above what IPAM
hands out first."""
LIMIT = 120.0


def settings(blocks: int) -> LabSettings:
    return LabSettings(
        pools=[
            LabPool(cidr=IPv4Network("10.244.0.0/17"), block_prefixlen=26, name="lab-v4"),
            LabPool(cidr=IPv6Network("fd00:244::/32"), block_prefixlen=64, name="lab-v6"),
            LabPool(cidr=TINY_CIDR, block_prefixlen=31, name=TINY, on_demand=True),
        ],
        import_limit=max(1024, 4 * blocks),
        agent_block_hold_time=3600.0,
        agent_reconcile_interval=3600.0,
        converge_timeout=LIMIT,
    )


def wait(check: Callable[[], bool], what: str, *, poll: float = 0.01) -> None:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll)
    raise RuntimeError(f"timed out waiting for {what}")


def arrival(watch: RouteWatch, prefix: str, *, after: int) -> float:
    """Time of the RTM_NEWROUTE of ``prefix`` among the events from index ``after``."""

    def found() -> float | None:
        hits = [e.at for e in watch.events()[after:] if e.prefix == prefix and not e.deleted]
        return hits[0] if hits else None

    wait(lambda: found() is not None, f"{prefix} in the ToR's FIB")
    at = found()
    assert at is not None
    return at


def timed_add(fabric: Fabric, node: str, pool: str | None) -> tuple[float, float, str]:
    """(t0, t1, the pod's IPv4 address) of one CNI ADD; the namespace is made before t0."""
    pod = fabric.new_pod(node, pool=pool)
    t0 = time.time()
    pod = fabric.attach(pod)
    return t0, time.time(), pod.ip


def add_latency(fabric: Fabric, runs: int, blocks: int) -> list[dict[str, Any]]:
    reference = []
    for _ in range(runs):
        t0, t1, _ip = timed_add(fabric, "node1", None)
        reference.append(t1 - t0)
    latency, returned_to_fib, start_to_fib = [], [], []
    with fabric.lab.watch() as watch:
        for _ in range(blocks):
            mark = len(watch.events())
            t0, t1, address = timed_add(fabric, "node1", TINY)
            block = str(ip_network(f"{address}/31", strict=False))
            tf = arrival(watch, block, after=mark)
            latency.append(t1 - t0)
            returned_to_fib.append(tf - t1)
            start_to_fib.append(tf - t0)
    return [
        row("ADD into a block with free addresses (reference)", reference),
        row("ADD that claims and announces a new block", latency),
        row("new block: ADD returned -> route in ToR FIB", returned_to_fib),
        row("new block: ADD started -> route in ToR FIB", start_to_fib),
    ]


def tiny_routes(fabric: Fabric) -> set[str]:
    return {p for p in fabric.lab.routes() if "." in p and IPv4Network(p).subnet_of(TINY_CIDR)}


def last_arrival(watch: RouteWatch, wanted: set[str], *, after: int) -> float:
    def seen() -> dict[str, float]:
        return {
            e.prefix: e.at for e in watch.events()[after:] if not e.deleted and e.prefix in wanted
        }

    wait(lambda: set(seen()) >= wanted, f"all {len(wanted)} blocks in the ToR's FIB", poll=0.05)
    return max(seen().values())


def scale(fabric: Fabric) -> dict[str, float | int]:
    held = tiny_routes(fabric)
    node1 = fabric.agents["node1"].node.links[0]
    mine = {str(node1.ipv4.ip), str(node1.ipv6.ip)}
    tor = fabric.lab.tor()
    out: dict[str, float | int] = {"blocks": len(held)}

    with fabric.lab.watch() as watch:  # hitless: the ToR keeps everything meanwhile
        fabric.stop_agent("node1")
        wait(lambda: tor.restarting(mine), "the ToR to enter graceful restart")
        t0 = time.time()
        fabric.start_agent("node1")
        wait(lambda: not tor.restarting(mine), "the ToR to end graceful restart", poll=0.02)
        out["hitless_restart_start_to_gr_end_ms"] = (time.time() - t0) * 1000
        assert tiny_routes(fabric) == held
    out["hitless_restart_kernel_route_changes"] = len(watch.events(proto=fabric.lab.proto))

    fabric.agents["node1"].command("drain")
    wait(lambda: not tiny_routes(fabric), "the drained routes to leave the ToR")
    fabric.stop_agent("node1")
    with fabric.lab.watch() as watch:
        t0 = time.time()
        fabric.start_agent("node1")
        out["drained_restart_start_to_all_in_fib_ms"] = (
            last_arrival(watch, held, after=0) - t0
        ) * 1000

    bare_prefixes = [str(p) for p in list(BARE_SPACE.subnets(new_prefix=31))[: len(held)]]
    fabric.stop_agent("node2")
    bare = fabric.lab.bare_speaker("node2", name="bench")
    try:
        with fabric.lab.watch() as watch:
            t0 = time.time()
            bare.start()
            bare.wait_up(2, limit=LIMIT)
            t_up = time.time()
            bare.send(
                "neighbor 10.10.0.1 announce attributes next-hop self nlri "
                + " ".join(bare_prefixes)
            )
            last = last_arrival(watch, set(bare_prefixes), after=0)
        out["bare_start_to_all_in_fib_ms"] = (last - t0) * 1000
        out["bare_session_up_to_all_in_fib_ms"] = (last - t_up) * 1000
    finally:
        bare.stop()
        fabric.start_agent("node2")
    fabric.wait_converged()

    fabric.lab.stop_tor()
    wait(lambda: not fabric.lab.routes(), "the ToR's FIB to empty")
    with fabric.lab.watch() as watch:
        t0 = time.time()
        fabric.lab.start_tor()
        out["tor_restart_to_all_in_fib_ms"] = (last_arrival(watch, held, after=0) - t0) * 1000
    out["ratio_drained_restart_to_bare_start"] = (
        out["drained_restart_start_to_all_in_fib_ms"] / out["bare_start_to_all_in_fib_ms"]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=256, help="new-block ADDs = blocks held")
    parser.add_argument("--reference", type=int, default=50, help="ADDs without a claim")
    parser.add_argument("--tor", choices=["bird", "frr"], default="bird")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.getLogger("flatnet").setLevel(logging.ERROR)
    kind: TorKind = "bird" if args.tor == "bird" else "frr"
    fabric = Fabric.up(settings(args.blocks), nodes=2, pods_per_node=0, tor_kind=kind)
    try:
        rows = add_latency(fabric, args.reference, args.blocks)
        scaled = scale(fabric)
    finally:
        fabric.down()
    ratio = float(rows[1]["p50_ms"]) / float(rows[0]["p50_ms"])
    print(f"\n## ToR: {kind}\n\n{table(rows)}")
    print(f"\nratio new-block ADD / reference ADD, p50: {ratio:.2f}")
    print(json.dumps(scaled, indent=2))
    if args.json is not None:
        report = {"tor": kind, "add": rows, "ratio_p50": ratio, "scale": scaled}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
