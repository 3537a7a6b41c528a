"""``flatnet lab demo`` (``make demo``): the lab end to end, every step a command you can type.

It brings a lab up (2 nodes, 2 pods each, BIRD as the ToR), then shows pod-to-pod pings
across nodes (IPv4 and IPv6), the routes the ToR learnt by BGP (``birdc show route`` in
the ToR's namespace, and its kernel table), a node agent's status with its BGP sessions,
IPAM's blocks, the sessions IPAM keeps per node and a ledger entry of a pod's address.
Each step prints the command, then its output. At the end, and on any failure or Ctrl-C,
the lab is taken down (``flatnet lab down``) unless ``--keep`` is given, in which case
the command to take it down is printed.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import click

from flatnet.lab.procs import base_environment, flatnet_command, stop_on_sigterm
from flatnet.lab.settings import LabSettings

STEP_TIMEOUT = 600.0
"""Seconds any one step may take (``lab up`` included)."""


def _show(title: str, argv: Sequence[str], *, shown: str | None = None, **env: str) -> str:
    """Print ``title`` and the command, run it, print and return its stdout."""
    click.secho(f"\n== {title}", bold=True)
    click.secho(f"$ {shown or _display(argv)}", fg="cyan")
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        env=base_environment() | env,
    )
    click.echo(done.stdout.rstrip())
    if done.returncode != 0:
        click.echo(done.stderr.rstrip(), err=True)
        raise click.ClickException(f"step failed ({done.returncode}): {title}")
    return done.stdout


def _display(argv: Sequence[str]) -> str:
    """The command as a user types it: ``flatnet`` rather than the venv's full path."""
    first = "flatnet" if argv[0].endswith("/flatnet") else argv[0]
    return shlex.join([first, *argv[1:]])


def _up(flatnet: str, tor: str) -> dict[str, Any]:
    argv = [flatnet, "lab", "up", "--tor", tor, "--nodes", "2", "--pods-per-node", "2"]
    click.secho(
        "== Bring the lab up: ToR, IPAM on embedded PostgreSQL, 2 agents, 4 pods", bold=True
    )
    click.secho(f"$ {_display(argv)}", fg="cyan")
    done = subprocess.run(
        [*argv, "-o", "json"],
        stdout=subprocess.PIPE,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
        env=base_environment(),
    )  # progress goes to stderr, straight to the terminal
    if done.returncode != 0:
        raise click.ClickException("the lab did not come up")
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _tour(flatnet: str, doc: dict[str, Any]) -> None:
    name = doc["lab"]
    _show("The lab: ToR, IPAM, nodes, pods", [flatnet, "lab", "status", "--lab", name])
    pods = doc["pods"]
    here = [p for p in pods if p["node"] == "node1"]
    there = [p for p in pods if p["node"] == "node2"]
    for src, dst in zip(here, there, strict=False):
        for address in dst["ips"]:
            _show(
                f"{src['name']} (node1) pings {dst['name']} (node2) through the ToR",
                ["ip", "netns", "exec", src["netns"], "ping", "-c", "3", "-i", "0.2", address],
            )
    tor = doc["tors"][0]
    if doc["tor_kind"] == "bird":
        _show("The ToR's BGP routes (BIRD)", [*shlex.split(tor["control"]), "show", "route"])
    else:
        for family in ("ipv4", "ipv6"):
            show = [*shlex.split(tor["control"]), "-c", f"show bgp {family} unicast"]
            _show(f"The ToR's BGP routes (FRR, {family})", show)
    proto = "bird" if doc["tor_kind"] == "bird" else "bgp"
    for family in ("-4", "-6"):
        kernel = ["ip", family, "-n", tor["netns"], "route", "show", "proto", proto]
        _show(f"... and the ToR's kernel table ({family})", kernel)
    node1 = doc["nodes"][0]
    _show(
        "node1's agent: blocks, pods, BGP sessions",
        [flatnet, "agent", "status", "--socket", node1["socket"]],
    )
    ipam = doc["ipam"]
    token_file = ipam["admin_token_file"]
    with open(token_file) as handle:
        token = handle.read().strip()
    shown_env = f"FLATNET_TOKEN=$(cat {token_file}) "
    for title, args in (
        ("IPAM: the blocks the nodes hold", ["blocks", "list"]),
        (
            "IPAM: node1's BGP sessions, as its agent reported them",
            ["nodes", "bgp-sessions", "node1"],
        ),
        (f"IPAM ledger: who owns {here[0]['ip']}", ["audit", "ip", here[0]["ip"]]),
        (f"IPAM ledger: the history of {here[0]['ip']}", ["audit", "history", here[0]["ip"]]),
    ):
        argv = [flatnet, *args, "--url", ipam["url"]]
        shown = shown_env + shlex.join(["flatnet", *args, "--url", ipam["url"]])
        _show(title, argv, shown=shown, FLATNET_TOKEN=token)


@click.command(name="demo")
@click.option("--tor", type=click.Choice(["bird", "frr"]), default="bird", show_default=True)
@click.option("--keep", is_flag=True, help="Leave the lab up; print how to take it down.")
def demo(tor: str, keep: bool) -> None:
    """Bring a lab up, show pings, BGP routes, blocks and the ledger, take it down."""
    stop_on_sigterm()
    flatnet = str(flatnet_command(LabSettings()))
    click.echo(f"(flatnet below is {flatnet})\n")
    doc = _up(flatnet, tor)
    down = [flatnet, "lab", "down", "--lab", doc["lab"]]
    try:
        _tour(flatnet, doc)
    finally:
        if keep:
            click.secho("\n== The lab stays up. Look around, then take it down with:", bold=True)
            click.echo(f"$ flatnet lab down --lab {doc['lab']}")
        else:
            click.secho("\n== Take it all down (every process, namespace and veth)", bold=True)
            click.secho(f"$ {_display(down)}", fg="cyan")
            subprocess.run(down, timeout=STEP_TIMEOUT, check=False, stdout=sys.stdout)
