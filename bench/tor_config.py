"""ToR config for a rack of 64 nodes: through the API, against its parts, in one run.

A throwaway PostgreSQL, ``python -m ipam_service`` and ``python -m fabric_controller`` as
real processes on loopback. The rack has 64 nodes with two /26 blocks each (per-node
ASNs, one ToR). Measured, sequentially, in the same run:

* ``api bird`` / ``api frr``: ``GET /v1/racks/r1/tor-config`` (the whole path: the
  controller's database reads, IPAM's node listing over HTTP, rendering);
* ``api 304``: the same with ``If-None-Match`` (automation polling an unchanged rack);
* ``ipam listing``: the rack's nodes from IPAM alone, as the controller pages them;
* ``render bird`` / ``render frr``: the pure renderer on the same rack (no I/O).

The reference for the API is the sum of its two unavoidable parts, listing plus
rendering; the ratio says how much the controller adds on top.

    python -m bench.tor_config [--nodes 64] [--blocks 2] [--requests 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_network

import httpx

from bench.harness import free_port, load_average, postgres, service, summary, table
from fabric_controller.torconfig import NodeSide, Policy, TorConfigSpec, TorSide, render

RACK_LABEL = "topology.flatnet.io/rack"


@contextlib.contextmanager
def controller(url: str, *, ipam: str) -> Iterator[str]:
    """``python -m fabric_controller`` on a free port, on the same database; ended by PID."""
    port = free_port()
    env = {
        **os.environ,
        "FLATNET_DATABASE_URL": url,
        "FLATNET_AUTH": "off",
        "FLATNET_CONTROLLER_PORT": str(port),
        "FLATNET_CONTROLLER_IPAM_URL": ipam,
        "FLATNET_CONTROLLER_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "fabric_controller"]
    quiet = subprocess.DEVNULL
    with subprocess.Popen(argv, env=env, stdout=quiet, stderr=quiet) as proc:
        try:
            base = f"http://127.0.0.1:{port}"
            await_ready(base, proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def await_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # 60 s at most
        if proc.poll() is not None:
            raise RuntimeError(f"the controller exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the controller did not become ready")


def check(response: httpx.Response, *codes: int) -> httpx.Response:
    if response.status_code not in (codes or (200, 201)):
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    return response


def populate(ipam: str, ctl: str, *, nodes: int, blocks: int) -> None:
    with httpx.Client(base_url=ipam, timeout=30) as c:
        pool = {"name": "pods", "cidrs": ["10.244.0.0/16"], "block_prefixlen": 26}
        check(c.post("/v1/pools", json=pool))
        for n in range(nodes):
            labels = {RACK_LABEL: "r1"}
            body = {"node_ip": f"10.10.{n // 200}.{10 + n % 200}", "labels": labels}
            check(c.put(f"/v1/nodes/node-{n:03d}", json=body))
            for _ in range(blocks):
                check(c.post(f"/v1/nodes/node-{n:03d}/blocks", json={"pool": "pods"}))
    with httpx.Client(base_url=ctl, timeout=30) as c:
        check(c.post("/v1/fabrics", json={"name": "dc1", "asn_model": "per-node"}))
        tor = {"name": "tor1", "asn": 65000, "address_v4": "10.10.0.1"}
        rack = {"name": "r1", "fabric": "dc1", "subnets": ["10.10.0.0/22"], "tors": [tor]}
        check(c.post("/v1/racks", json=rack))


def timed(fn: Callable[[], object], *, runs: int) -> tuple[list[float], float]:
    samples = []
    start = time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples, time.perf_counter() - start


def local_spec(ipam: httpx.Client) -> TorConfigSpec:
    """The same rack as plain data, for the renderer alone."""
    nodes = []
    for n, node in enumerate(list_rack(ipam)):
        cidrs = tuple(ip_network(b["cidr"]) for b in node["blocks"])
        nodes.append(NodeSide(node["name"], ip_address(node["node_ip"]), 4_200_000_000 + n, cidrs))
    tor = TorSide("tor1", 65000, ip_address("10.10.0.1"), ip_address("10.10.0.1"), None)  # type: ignore[arg-type]
    policy = Policy(9, 3, 120, 64, 1)
    return TorConfigSpec(
        rack="r1",
        fabric="dc1",
        peering="static",
        asn_model="per-node",
        tor=tor,
        policy=policy,
        subnets=(ip_network("10.10.0.0/22"),),
        nodes=tuple(nodes),
    )


def list_rack(ipam: httpx.Client) -> list[dict[str, object]]:
    """Every node labelled into r1, page by page (pages of 1000, as the controller asks)."""
    items: list[dict[str, object]] = []
    params: dict[str, str | int] = {"label": f"{RACK_LABEL}=r1", "limit": 1000}
    for _ in range(1000):
        page = check(ipam.get("/v1/nodes", params=params)).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]
    raise RuntimeError("listing did not end")


def measure(ipam: str, ctl: str, *, requests: int) -> list[dict[str, float | str]]:
    """Round-robin over the paths, so that load from elsewhere hits them all alike."""
    url = "/v1/racks/r1/tor-config"
    with httpx.Client(base_url=ctl, timeout=30) as c, httpx.Client(base_url=ipam, timeout=30) as i:
        tag = check(c.get(url, params={"format": "bird"})).headers["etag"]  # allocates ASNs
        spec = local_spec(i)
        paths: dict[str, Callable[[], object]] = {
            "api bird": lambda: check(c.get(url, params={"format": "bird"})),
            "api frr": lambda: check(c.get(url, params={"format": "frr"})),
            "api 304": lambda: check(
                c.get(url, params={"format": "bird"}, headers={"If-None-Match": tag}), 304
            ),
            "ipam listing": lambda: list_rack(i),
            "render bird": lambda: render(spec, fmt="bird"),
            "render frr": lambda: render(spec, fmt="frr"),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        spent = dict.fromkeys(paths, 0.0)
        for _ in range(requests):
            for name, fn in paths.items():
                one, took = timed(fn, runs=1)
                samples[name] += one
                spent[name] += took
    return [summary(name, samples[name], spent[name]) for name in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=2, help="Blocks per node.")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with postgres() as url, service(url, workers=1) as ipam, controller(url, ipam=ipam) as ctl:
        populate(ipam, ctl, nodes=args.nodes, blocks=args.blocks)
        rows = measure(ipam, ctl, requests=args.requests)
    print(table(rows))
    p50 = {str(r["name"]): float(r["p50_ms"]) for r in rows}
    reference = p50["ipam listing"] + p50["render bird"]
    print(
        f"\nrack of {args.nodes} nodes, {args.nodes * args.blocks} blocks;"
        f" load average {load_average()}"
    )
    print(f"api bird p50 {p50['api bird']:.2f} ms (target <= 50 ms)")
    print(f"reference (ipam listing + render) p50 {reference:.2f} ms")
    print(f"ratio api / reference: {p50['api bird'] / reference:.2f}")
    print(f"304 revalidation p50 {p50['api 304']:.2f} ms")
    medians = [statistics.median([p50["render bird"], p50["render frr"]])]
    print(f"render alone p50 {medians[0]:.3f} ms")


if __name__ == "__main__":
    main()
