"""``flatnet agent ...``: run the node agent and look at it.

``run`` starts the daemon; ``status``, ``reconcile``, ``drain`` and ``undrain`` talk
to a running agent over its unix socket.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx

from cni.contract import DEFAULT_SOCKET


@click.group(name="agent")
def agent() -> None:
    """Run and inspect the flatnet node agent."""


@agent.command(name="run")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML or JSON settings file; FLATNET_AGENT_* variables override it.",
)
def run_command(config_file: Path | None) -> None:
    """Run the node agent until SIGTERM."""
    from pydantic import ValidationError

    from node_agent.config import load_settings
    from node_agent.main import run

    try:
        settings = load_settings(config_file)
    except (ValidationError, ValueError) as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc
    run(settings)


def _call(socket: str, method: str, path: str) -> Any:
    transport = httpx.HTTPTransport(uds=socket)
    try:
        with httpx.Client(transport=transport, base_url="http://agent", timeout=10) as client:
            response = client.request(method, path)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the agent at {socket}: {exc}") from exc
    if response.status_code != 200:
        raise click.ClickException(f"agent answered {response.status_code}: {response.text}")
    return response.json()


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def render_status(doc: dict[str, Any]) -> str:
    ipam = doc["ipam"]
    ready = "yes" if doc["ready"] else f"NO ({doc['reason']})"
    drained = "  DRAINED (routes withdrawn)" if doc.get("drained") else ""
    out = [
        f"node {doc['node']} ({doc['node_ip']})  ready: {ready}{drained}",
        f"ipam {ipam['url']}  reachable: {ipam['reachable']}  registered: {ipam['registered']}",
        f"outbox: {doc['outbox']['depth']} waiting, {doc['outbox']['dead_letters']} dead letters;"
        f" veths pending delete: {doc['links_pending_delete']}",
        "",
        _table(doc["pools"], ["pool", "free", "exhausted"]),
        "",
        _table(doc["blocks"], ["cidr", "pool", "state", "used", "capacity"]),
        "",
        _table(
            [r | {"ips": ",".join(r["ips"])} for r in doc["allocations"]],
            ["network", "container_id", "ifname", "ips", "pod", "state", "host_ifname"],
        ),
    ]
    peers = doc.get("announcer", {}).get("peers", [])
    if peers:
        columns = ["peer", "state", "prefixes_sent", "prefixes_acknowledged", "last_error"]
        out += ["", _table(peers, columns)]
    if doc["errors"]:
        out += ["", _table(doc["errors"][-5:], ["at", "source", "message"])]
    return "\n".join(out)


@agent.command(name="status")
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, help="Agent socket.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def status_command(socket: str, output: str) -> None:
    """Show blocks, allocations, the outbox and recent errors of a running agent."""
    doc = _call(socket, "GET", "/v1/status")
    click.echo(json.dumps(doc, indent=2) if output == "json" else render_status(doc))


@agent.command(name="reconcile")
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, help="Agent socket.")
def reconcile_command(socket: str) -> None:
    """Run one reconcile pass now and print what it repaired."""
    click.echo(json.dumps(_call(socket, "POST", "/v1/reconcile"), indent=2))


@agent.command(name="drain")
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, help="Agent socket.")
def drain_command(socket: str) -> None:
    """Withdraw every route this node announces (before a planned shutdown).

    The routes stay withdrawn, and new pods are refused, until ``undrain`` or a restart.
    """
    _call(socket, "POST", "/v1/drain")
    click.echo("drained: every announcement withdrawn; new pods refused until undrained")


@agent.command(name="undrain")
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, help="Agent socket.")
def undrain_command(socket: str) -> None:
    """Announce this node's blocks again after a drain, and take new pods."""
    _call(socket, "POST", "/v1/undrain")
    click.echo("undrained: the node's blocks are announced again")
