"""CNI ADD and DEL latency: flatnet (plugin + node agent) vs. Debian's ptp + host-local.

Run as root: ``.venv/bin/python -m bench.cni_latency [--pods 50] [--burst 100]``.

The whole benchmark runs inside a network namespace of its own (``unshare`` at
start), which plays the node: the embedded PostgreSQL, the IPAM service, the
flatnet agent and both plugins' host veths live there, and everything vanishes
with the process. Both plugins are run exactly as a runtime runs them: a fresh
process per call, the ``CNI_*`` environment and the config on stdin, on a fresh
pod namespace per ADD. Calls alternate between the two, so drift hits both alike.

* reference: ``/usr/lib/cni/ptp`` with ``host-local`` IPAM (a Go binary that
  execs another Go binary), IPv4 only, cniVersion 1.0.0;
* flatnet: the zipapp installed by ``flatnet cni install`` on ``/usr/bin/python3``,
  talking to a real ``flatnet agent run``, one IPv4 pool of /26 blocks.

Reported: p50 and p90 of ADD and DEL, the ratios flatnet / reference, and the wall
time of a 100-pod parallel burst (ADD, then DEL) for both. flatnet's DEL answers
once the pod is cut off and its address released; the veth itself is deleted in
the background (``defer_link_delete``), so the time until the last veth is gone
is reported too, as is a run with ``defer_link_delete=false``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import pct, postgres, service

REFERENCE = Path("/usr/lib/cni")
SYSTEM_PYTHON = "/usr/bin/python3"
CLONE_NEWNET = 0x40000000
POOL_CIDR = "10.200.0.0/16"
REF_SUBNET = "10.99.0.0/16"


def enter_private_netns() -> None:
    """Move this process into a new, empty network namespace with ``lo`` up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) needs root")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)


@dataclass
class Plugin:
    name: str
    argv: list[str]
    conf: dict[str, Any]

    def call(self, command: str, *, container_id: str, netns: str) -> float:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(REFERENCE),
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p;K8S_POD_UID=u",
        }
        stdin = json.dumps(self.conf).encode()
        started = time.perf_counter()
        done = subprocess.run(self.argv, input=stdin, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} {command}: {done.stdout!r} {done.stderr[-400:]!r}")
        return elapsed


class Namespaces:
    def __init__(self) -> None:
        self.made: list[str] = []

    def fresh(self) -> str:
        name = f"fnbench-{uuid.uuid4().hex[:10]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.made.append(name)
        return f"/run/netns/{name}"

    def delete_all(self) -> None:
        for name in self.made:
            subprocess.run(["ip", "netns", "del", name], check=False)
        self.made.clear()


@contextlib.contextmanager
def ipam_service() -> Iterator[str]:
    with postgres() as url, service(url, workers=1) as base:
        pool = {"name": "bench", "cidrs": [POOL_CIDR], "block_prefixlen": 26}
        httpx.post(f"{base}/v1/pools", json=pool, timeout=10).raise_for_status()
        yield base


@contextlib.contextmanager
def flatnet_agent(workdir: Path, ipam_url: str, *, defer: bool) -> Iterator[Path]:
    state = workdir / f"agent-{'defer' if defer else 'sync'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLATNET_AGENT_")} | {
        "FLATNET_AGENT_NODE_NAME": f"bench-{uuid.uuid4().hex[:6]}",
        "FLATNET_AGENT_NODE_IP": "192.0.2.1" if defer else "192.0.2.2",
        "FLATNET_AGENT_IPAM_URL": ipam_url,
        "FLATNET_AGENT_POOLS": '["bench"]',
        "FLATNET_AGENT_STATE_DIR": str(state),
        "FLATNET_AGENT_SOCKET_PATH": str(state / "agent.sock"),
        "FLATNET_AGENT_METRICS_LISTEN": "null",
        "FLATNET_AGENT_WARM_SPARE": "64",
        "FLATNET_AGENT_IP_COOLDOWN": "0",
        "FLATNET_AGENT_DEFER_LINK_DELETE": "true" if defer else "false",
        "FLATNET_AGENT_LOG_LEVEL": "warning",
    }
    state.mkdir(parents=True)
    flatnet = str(Path(sys.executable).with_name("flatnet"))
    with open(state / "agent.log", "wb") as log:
        proc = subprocess.Popen([flatnet, "agent", "run"], env=env, stdout=log, stderr=log)
    try:
        try:
            _wait_ready(state / "agent.sock", proc)
        except RuntimeError:
            sys.stderr.write((state / "agent.log").read_text()[-3000:])
            raise
        yield state / "agent.sock"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_get(socket: Path, path: str) -> httpx.Response:
    """``GET path`` from the agent's local API on its unix socket."""
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://agent", timeout=30) as client:
        return client.get(path)


def agent_status(socket: Path) -> dict[str, Any]:
    doc: dict[str, Any] = agent_get(socket, "/v1/status").json()
    return doc


def _wait_ready(socket: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the agent exited during start-up")
        with contextlib.suppress(httpx.HTTPError, OSError):
            status = agent_status(socket)
            if status["pools"][0]["free"] >= 64:
                return
        time.sleep(0.1)
    raise RuntimeError("the agent was not ready in 60 s")


def wait_links_gone(socket: Path) -> None:
    deadline = time.monotonic() + 120
    while agent_status(socket)["links_pending_delete"] and time.monotonic() < deadline:
        time.sleep(0.005)


def sequential(
    plugins: list[Plugin], pods: int, spaces: Namespaces
) -> dict[str, dict[str, list[float]]]:
    """ADD then DEL of one fresh pod, ``pods`` times, alternating the plugins."""
    samples: dict[str, dict[str, list[float]]] = {p.name: {"ADD": [], "DEL": []} for p in plugins}
    for i in range(pods + 3):  # three warm-up rounds are dropped
        for plugin in plugins if i % 2 else reversed(plugins):
            netns, container_id = spaces.fresh(), uuid.uuid4().hex
            add = plugin.call("ADD", container_id=container_id, netns=netns)
            delete = plugin.call("DEL", container_id=container_id, netns=netns)
            if i >= 3:
                samples[plugin.name]["ADD"].append(add)
                samples[plugin.name]["DEL"].append(delete)
        spaces.delete_all()
    return samples


def burst(plugin: Plugin, size: int, spaces: Namespaces) -> tuple[float, float]:
    """Wall time of ``size`` parallel ADDs, then of ``size`` parallel DELs."""
    pods = [(uuid.uuid4().hex, spaces.fresh()) for _ in range(size)]
    with ThreadPoolExecutor(size) as pool:
        started = time.perf_counter()
        list(pool.map(lambda p: plugin.call("ADD", container_id=p[0], netns=p[1]), pods))
        adds = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(lambda p: plugin.call("DEL", container_id=p[0], netns=p[1]), pods))
        dels = time.perf_counter() - started
    spaces.delete_all()
    return adds, dels


def agent_seconds(socket: Path) -> dict[str, float]:
    """Median agent-side time per verb, from the agent's own histogram (sum / count)."""
    text = agent_get(socket, "/metrics").text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for verb in ("add", "del"):
            tag = f'outcome="ok",verb="{verb}"'
            if line.startswith("flatnet_agent_cni_seconds_sum{") and tag in line:
                sums[verb] = float(line.split()[-1])
            if line.startswith("flatnet_agent_cni_seconds_count{") and tag in line:
                counts[verb] = float(line.split()[-1])
    return {v: sums[v] / counts[v] * 1000 for v in sums if counts.get(v)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=50, help="sequential ADD+DEL pairs per plugin")
    parser.add_argument("--burst", type=int, default=100, help="pods in the parallel burst")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark creates network namespaces")
    enter_private_netns()
    workdir = Path(tempfile.mkdtemp(prefix="flatnet-cni-bench-"))
    workdir.chmod(0o755)
    spaces = Namespaces()
    try:
        run(args, workdir, spaces)
    finally:
        spaces.delete_all()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path, spaces: Namespaces) -> None:
    from cni.install import install

    installed = install(bin_dir=workdir / "bin", conf_dir=workdir / "net.d", python=SYSTEM_PYTHON)
    reference = Plugin(
        "ptp+host-local",
        [str(REFERENCE / "ptp")],
        {"cniVersion": "1.0.0", "name": "refnet", "type": "ptp", "mtu": 1500,
         "ipam": {"type": "host-local", "subnet": REF_SUBNET, "dataDir": str(workdir / "ipam")}},
    )  # fmt: skip
    with ipam_service() as ipam_url:
        for defer in (True, False):
            with flatnet_agent(workdir, ipam_url, defer=defer) as socket:
                conf = {
                    "cniVersion": "1.0.0",
                    "name": "flatnet",
                    "type": "flatnet",
                    "agentSocket": str(socket),
                }
                flatnet = Plugin("flatnet", [str(installed.executable)], conf)
                samples = sequential([reference, flatnet], args.pods, spaces)
                inside = agent_seconds(socket)
                ref_burst = burst(reference, args.burst, spaces)
                fn_burst = burst(flatnet, args.burst, spaces)
                started = time.perf_counter()
                wait_links_gone(socket)
                drained = time.perf_counter() - started
            table = report(
                samples,
                inside,
                ref_burst,
                fn_burst,
                drained,
                defer=defer,
                n=args.pods,
                size=args.burst,
            )
            print(table + "\n", flush=True)


def report(
    samples: dict[str, dict[str, list[float]]],
    inside: dict[str, float],
    ref_burst: tuple[float, float],
    fn_burst: tuple[float, float],
    drained: float,
    *,
    defer: bool,
    n: int,
    size: int,
) -> str:
    ref, fn = samples["ptp+host-local"], samples["flatnet"]
    lines = [
        f"defer_link_delete={str(defer).lower()}, {n} sequential pods each, burst of {size}",
        "",
        "| verb | ptp+host-local p50 | p90 | flatnet p50 | p90 | ratio p50 | agent-side mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for verb in ("ADD", "DEL"):
        r50, f50 = statistics.median(ref[verb]) * 1000, statistics.median(fn[verb]) * 1000
        r90, f90 = pct(ref[verb], 0.9) * 1000, pct(fn[verb], 0.9) * 1000
        agent = inside.get(verb.lower(), 0)
        lines.append(
            f"| {verb} | {r50:.1f} ms | {r90:.1f} ms | {f50:.1f} ms | {f90:.1f} ms |"
            f" {f50 / r50:.2f} | {agent:.1f} ms |"
        )
    lines += [
        "",
        f"| burst of {size} | ptp+host-local | flatnet |",
        "|---|---|---|",
        f"| ADD wall time | {ref_burst[0]:.2f} s | {fn_burst[0]:.2f} s |",
        f"| DEL wall time | {ref_burst[1]:.2f} s | {fn_burst[1]:.2f} s |",
        f"| DEL until the last veth is gone | {ref_burst[1]:.2f} s"
        f" | {fn_burst[1] + drained:.2f} s |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
