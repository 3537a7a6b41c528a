"""``flatnet demo``: the IPAM service on the embedded PostgreSQL, end to end.

Starts a throwaway embedded PostgreSQL and a real ``flatnet ipam serve`` process,
defines rack-aware pools, registers nodes, claims blocks, records pod addresses
in the ledger and asks the audit API who owned an IP, then stops everything it
started (by PID) and removes its data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ipam_service.client import IpamClient
from ipam_service.database import start_embedded, stop_embedded
from ipam_service.tables import render

RACK = "topology.flatnet.io/rack"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(client: IpamClient, proc: subprocess.Popen[bytes], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException("the IPAM service exited during start-up")
        try:
            client.request("GET", "/readyz")
            return
        except Exception:
            time.sleep(0.1)
    raise click.ClickException(f"the IPAM service was not ready within {seconds} s")


def _show(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    click.secho(f"\n== {title}", bold=True)
    click.echo(render(rows, columns))


def _event(kind: str, ip: str, at: datetime, pod: str, container: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "ip": ip,
        "at": at.isoformat(),
        "container_id": container,
        "ifname": "eth0",
        "pod_namespace": "shop",
        "pod_name": pod,
        "pod_uid": f"uid-{pod}",
        "network": "flatnet",
    }


def scenario(c: IpamClient) -> None:
    c.request(
        "POST",
        "/v1/pools",
        json={
            "name": "pods",
            "cidrs": ["10.244.0.0/16"],
            "block_prefixlen": 26,
            "subnets": [
                {"cidr": "10.244.0.0/20", "node_selector": {RACK: "r1"}},
                {"cidr": "10.244.16.0/20", "node_selector": {RACK: "r2"}},
            ],
            "reservations": [{"cidr": "10.244.255.0/24", "description": "service VIPs"}],
            "description": "IPv4 pod pool, one aggregate per rack",
        },
    )
    c.request(
        "POST",
        "/v1/pools",
        json={"name": "pods-v6", "cidrs": ["fd00:244::/48"], "block_prefixlen": 64},
    )
    for name, ip, rack in (
        ("node-a", "10.10.0.11", "r1"),
        ("node-b", "10.10.0.12", "r1"),
        ("node-c", "10.10.0.13", "r2"),
    ):
        c.request("PUT", f"/v1/nodes/{name}", json={"node_ip": ip, "labels": {RACK: rack}})
        c.request(
            "POST", f"/v1/nodes/{name}/blocks", json={"pool": "pods", "request_id": f"{name}-0"}
        )
    c.request("POST", "/v1/nodes/node-a/blocks", json={"pool": "pods-v6", "request_id": "a-v6"})
    _show(
        "blocks held (rack-aware: r1 nodes inside 10.244.0.0/20, r2 inside 10.244.16.0/20)",
        list(c.pages("/v1/blocks", {})),
        ("cidr", "pool", "node", "state", "request_id"),
    )
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    c.request(
        "POST",
        "/v1/ledger/events",
        json={
            "node": "node-a",
            "events": [
                _event("allocate", "10.244.0.1", t0, "web-1", "c-web-1"),
                _event("release", "10.244.0.1", t0 + timedelta(minutes=10), "web-1", "c-web-1"),
                _event("allocate", "10.244.0.1", t0 + timedelta(minutes=20), "web-2", "c-web-2"),
            ],
        },
    )
    _show(
        "pool usage",
        [c.request("GET", f"/v1/pools/{p}/usage") for p in ("pods", "pods-v6")],
        ("pool", "blocks_total", "blocks_held", "blocks_free", "addresses_used"),
    )
    for label, at in (
        ("5 minutes after web-1 started", t0 + timedelta(minutes=5)),
        ("now", datetime.now(UTC)),
    ):
        answer = c.request("GET", "/v1/audit/ips/10.244.0.1", params={"at": at.isoformat()})
        owner = answer["owner"] or {}
        click.secho(f"\n== audit: who owned 10.244.0.1 {label}? ", bold=True, nl=False)
        click.echo(f"{owner.get('pod_namespace')}/{owner.get('pod_name')} on {owner.get('node')}")
    _show(
        "audit: history of 10.244.0.1",
        list(c.pages("/v1/audit/ips/10.244.0.1/history", {})),
        ("ip", "node", "pod_namespace", "pod_name", "container_id", "start", "end"),
    )


@click.command(help="Run the IPAM demo on the embedded PostgreSQL, then clean up.")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("/tmp/flatnet-demo"),
    show_default=True,
)
def demo(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    click.echo(f"starting embedded PostgreSQL in {workdir}/pg ...")
    url = start_embedded(workdir / "pg")
    port = _free_port()
    env = os.environ | {
        "FLATNET_DATABASE_URL": url,
        "FLATNET_AUTH": "off",
        "FLATNET_PORT": str(port),
    }
    with (workdir / "ipam.log").open("wb") as log:  # the child keeps its own descriptor
        command = [sys.executable, "-m", "ipam_service"]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        client = IpamClient(f"http://127.0.0.1:{port}")
        _wait_ready(client, proc, seconds=60)
        click.echo(
            f"IPAM service (pid {proc.pid}) on http://127.0.0.1:{port}; log {workdir}/ipam.log"
        )
        scenario(client)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_embedded(workdir / "pg")
        click.echo(
            f"\nstopped the service (pid {proc.pid}) and PostgreSQL; "
            f"remove {workdir} to drop the demo data."
        )
