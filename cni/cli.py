"""``flatnet cni ...``: operator commands for the CNI plugin.

The only ``cni`` module that imports ``click``; it is never bundled into the plugin
executable (see :mod:`cni.install`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from cni.contract import DEFAULT_SOCKET
from cni.install import DEFAULT_NETWORK, install


@click.group(name="cni")
def cni() -> None:
    """Manage the flatnet CNI plugin on this node."""


@cni.command(name="install")
@click.option(
    "--bin-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="CNI bin directory, e.g. /opt/cni/bin.",
)
@click.option(
    "--conf-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="CNI config directory, e.g. /etc/cni/net.d.",
)
@click.option(
    "--python",
    required=True,
    help="Absolute path of the node's python3 (>= 3.9) for the plugin's shebang.",
)
@click.option("--socket", default=DEFAULT_SOCKET, show_default=True, help="Node agent socket.")
@click.option("--network-name", default=DEFAULT_NETWORK, show_default=True)
@click.option("--mtu", type=click.IntRange(68, 65535), default=None, help="Pod MTU.")
@click.option("--pool", default=None, help="Address pool; default: the agent's.")
def install_command(
    bin_dir: Path,
    conf_dir: Path,
    python: str,
    socket: str,
    network_name: str,
    mtu: Optional[int],
    pool: Optional[str],
) -> None:
    """Write the plugin executable and its conflist, atomically."""
    try:
        installed = install(
            bin_dir=bin_dir,
            conf_dir=conf_dir,
            python=python,
            socket=socket,
            network_name=network_name,
            mtu=mtu,
            pool=pool,
        )
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    click.echo(f"installed {installed.executable}")
    click.echo(f"installed {installed.conflist}")
