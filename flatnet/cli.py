"""Root of the ``flatnet`` command.

Subcommands are imported only when used, so ``flatnet cni install`` never loads
SQLAlchemy and ``flatnet ipam serve`` never loads pyroute2. This package holds no
logic of its own: each component owns its commands.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "ipam": ("ipam_service.cli:ipam", "Run the central IPAM service."),
    "pools": ("ipam_service.cli:pools", "Manage pools."),
    "nodes": ("ipam_service.cli:nodes", "Manage nodes."),
    "blocks": ("ipam_service.cli:blocks", "Claim, release and list blocks."),
    "audit": ("ipam_service.cli:audit", "Ask who owned an IP, when."),
    "demo": ("ipam_service.demo:demo", "Run the end-to-end demo on the embedded default."),
    "cni": ("cni.cli:cni", "Install the CNI plugin."),
    "agent": ("node_agent.cli:agent", "Run and inspect the node agent."),
    "lab": ("flatnet.lab.cli:lab", "Run the one-machine fabric lab."),
    "controller": ("fabric_controller.cli:controller", "Run the fabric controller."),
    "drift": ("fabric_controller.drift.cli:drift", "Compare the fabric's routes with IPAM."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, help="flatnet: routed pod networking with a central IPAM.")
@click.version_option("0.1.0", prog_name="flatnet")
def main() -> None:
    pass
