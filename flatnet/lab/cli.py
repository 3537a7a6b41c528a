"""``flatnet lab up | status | down | list | demo``: the one-machine fabric lab.

``up`` leaves the lab running (its daemons are not children of the command) and prints
how to reach it; ``status`` reads the state file and asks the live parts; ``down`` ends
every process by PID and deletes every namespace the lab made, and does nothing, calmly,
when there is nothing left. Settings come from ``FLATNET_LAB_*`` (:class:`LabSettings`).
"""

from __future__ import annotations

import json
import os
import sys

import click

from flatnet.lab.demo import demo
from flatnet.lab.errors import LabError, LabStateNotFound
from flatnet.lab.fabric import Fabric
from flatnet.lab.lab import Lab
from flatnet.lab.procs import stop_on_sigterm
from flatnet.lab.report import find_state, render, status_document
from flatnet.lab.settings import LabSettings

lab_option = click.option(
    "--lab",
    "lab_name",
    default=None,
    help="Lab name (fl1a2b3c), directory or state file; default: the only lab.",
)
output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _settings() -> LabSettings:
    if os.geteuid() != 0:
        raise click.ClickException("the lab makes network namespaces: run it as root")
    try:
        return LabSettings()
    except ValueError as exc:
        raise click.ClickException(f"invalid FLATNET_LAB_* settings: {exc}") from exc


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group(name="lab")
def lab() -> None:
    """Run the fabric lab on this machine: a BIRD or FRR ToR, IPAM, node agents, pods."""


@lab.command(name="up")
@click.option("--tor", type=click.Choice(["bird", "frr"]), default="bird", show_default=True)
@click.option("--nodes", type=click.IntRange(2, 64), default=2, show_default=True)
@click.option("--pods-per-node", type=click.IntRange(0, 64), default=2, show_default=True)
@output_option
def up_command(tor: str, nodes: int, pods_per_node: int, output: str) -> None:
    """Bring a lab up and leave it running; prints its status."""
    settings = _settings()
    stop_on_sigterm()
    try:
        fabric = Fabric.up(
            settings,
            nodes=nodes,
            pods_per_node=pods_per_node,
            tor_kind="bird" if tor == "bird" else "frr",
            say=_say,
        )
        doc = status_document(fabric)
    except LabError as exc:
        raise click.ClickException(f"the lab did not come up (nothing left behind): {exc}") from exc
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(render(doc))
    click.echo(f"\ntake it down with: flatnet lab down --lab {doc['lab']}")


@lab.command(name="status")
@lab_option
@output_option
def status_command(lab_name: str | None, output: str) -> None:
    """Show the lab's ToR, IPAM, nodes (agents, BGP sessions, blocks), pods and routes."""
    settings = _settings()
    try:
        doc = status_document(Fabric.load(find_state(settings, lab_name)))
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(doc, indent=2) if output == "json" else render(doc))


@lab.command(name="down")
@lab_option
def down_command(lab_name: str | None) -> None:
    """End every process and delete every namespace and veth of the lab (idempotent)."""
    settings = _settings()
    try:
        state = find_state(settings, lab_name)
    except LabStateNotFound as exc:
        click.echo(f"nothing to take down: {exc}")
        return
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    found = Lab.load(state)
    found.down()
    click.echo(f"lab {found.topology.prefix} is down: processes ended, namespaces deleted")


@lab.command(name="list")
def list_command() -> None:
    """The labs on this machine (their state files)."""
    settings = _settings()
    for state in sorted(settings.state_root.glob("*/state.json")):
        click.echo(f"{state.parent.name}  {state}")


lab.add_command(demo)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(lab())
