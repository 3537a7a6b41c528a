"""``flatnet controller``: run the service, and the network team's commands against its API.

Operator commands talk HTTP to a running controller (``--url`` / ``FLATNET_CONTROLLER_URL``,
``--token`` / ``FLATNET_TOKEN``) and print JSON, or plain tables for lists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8471"


class Api:
    """A tiny synchronous client; a problem+json answer becomes a ClickException."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=30.0)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the controller: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                where = f" [{body['field']}]" if body.get("field") else ""
                text = f"{body.get('title', '')}{where}: {body.get('detail', '')}"
            except ValueError:
                text = response.text
            raise click.ClickException(f"{response.status_code} {text}")
        return response


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group(help="The fabric controller: topology, BGP policy, generated ToR config.")
@click.option("--url", envvar="FLATNET_CONTROLLER_URL", default=DEFAULT_URL, show_default=True)
@click.option("--token", envvar="FLATNET_TOKEN", default=None, help="Bearer token.")
@click.pass_context
def controller(ctx: click.Context, url: str, token: str | None) -> None:
    ctx.obj = {"url": url, "token": token}


def _api(ctx: click.Context) -> Api:
    return Api(ctx.obj["url"], ctx.obj["token"])


@controller.command(help="Serve the API (settings from FLATNET_CONTROLLER_* variables).")
@click.option("--host", default=None, help="Listen address (overrides the setting).")
@click.option("--port", type=int, default=None, help="Listen port (overrides the setting).")
def run(host: str | None, port: int | None) -> None:
    from fabric_controller.config import ControllerSettings
    from fabric_controller.main import serve

    settings = ControllerSettings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    serve(settings.model_copy(update=overrides))


@controller.command(help="Migrate the shared database to the newest schema and exit.")
def migrate() -> None:
    from fabric_controller.config import ControllerSettings
    from fabric_controller.database import database_url
    from fabric_controller.database import migrate as upgrade

    settings = ControllerSettings()
    upgrade(database_url(settings), lock_id=settings.migration_lock_id)
    click.echo("schema at head")


@controller.command("fabrics", help="List fabrics.")
@click.pass_context
def fabrics(ctx: click.Context) -> None:
    items = _api(ctx).call("GET", "/v1/fabrics", params={"limit": 1000}).json()["items"]
    click.echo(_table(items, ("name", "asn_model", "asn_range", "description")))


@controller.command("fabric-create", help="Create a fabric from a JSON spec (file or '-').")
@click.argument("spec", type=click.File("r"))
@click.pass_context
def fabric_create(ctx: click.Context, spec: Any) -> None:
    _echo(_api(ctx).call("POST", "/v1/fabrics", json=json.load(spec)).json())


@controller.command("racks", help="List racks (of one fabric with --fabric).")
@click.option("--fabric", default=None)
@click.pass_context
def racks(ctx: click.Context, fabric: str | None) -> None:
    params: dict[str, Any] = {"limit": 1000} | ({"fabric": fabric} if fabric else {})
    items = _api(ctx).call("GET", "/v1/racks", params=params).json()["items"]
    for item in items:
        item["tors"] = ",".join(t["name"] for t in item["tors"])
    click.echo(_table(items, ("name", "fabric", "asn", "peering", "subnets", "tors")))


@controller.command("rack", help="Show one rack with its ToRs.")
@click.argument("name")
@click.pass_context
def rack(ctx: click.Context, name: str) -> None:
    _echo(_api(ctx).call("GET", f"/v1/racks/{name}").json())


@controller.command("rack-create", help="Create a rack (and its ToRs) from a JSON spec.")
@click.argument("spec", type=click.File("r"))
@click.pass_context
def rack_create(ctx: click.Context, spec: Any) -> None:
    _echo(_api(ctx).call("POST", "/v1/racks", json=json.load(spec)).json())


@controller.command("rack-delete", help="Delete a rack and its ToRs.")
@click.argument("name")
@click.pass_context
def rack_delete(ctx: click.Context, name: str) -> None:
    _api(ctx).call("DELETE", f"/v1/racks/{name}")


@controller.command("tor-add", help="Add a ToR to a rack.")
@click.argument("rack_name")
@click.argument("name")
@click.option("--asn", type=int, required=True)
@click.option("--v4", "address_v4", default=None, help="IPv4 peering address.")
@click.option("--v6", "address_v6", default=None, help="IPv6 peering address.")
@click.option("--router-id", default=None)
@click.pass_context
def tor_add(ctx: click.Context, /, rack_name: str, name: str, **fields: Any) -> None:
    body = {"name": name} | {k: v for k, v in fields.items() if v is not None}
    _echo(_api(ctx).call("POST", f"/v1/racks/{rack_name}/tors", json=body).json())


@controller.command("tor-remove", help="Remove a ToR from a rack.")
@click.argument("rack_name")
@click.argument("name")
@click.pass_context
def tor_remove(ctx: click.Context, rack_name: str, name: str) -> None:
    _api(ctx).call("DELETE", f"/v1/racks/{rack_name}/tors/{name}")


@controller.command("tor-config", help="Print (or write) a ToR's generated config.")
@click.argument("rack_name")
@click.option("--format", "fmt", type=click.Choice(["bird", "frr"]), required=True)
@click.option("--tor", default=None, help="The ToR, when the rack has several.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None, help="Write here.")
@click.pass_context
def tor_config(
    ctx: click.Context, rack_name: str, fmt: str, tor: str | None, out: Path | None
) -> None:
    params = {"format": fmt} | ({"tor": tor} if tor else {})
    response = _api(ctx).call("GET", f"/v1/racks/{rack_name}/tor-config", params=params)
    if out is None:
        sys.stdout.write(response.text)
        return
    out.write_text(response.text)
    click.echo(f"wrote {out} (ETag {response.headers.get('etag')})", err=True)


@controller.command("peering", help="Show a node's BGP peering, as its agent gets it.")
@click.argument("node")
@click.pass_context
def peering(ctx: click.Context, node: str) -> None:
    _echo(_api(ctx).call("GET", f"/v1/nodes/{node}/bgp").json())
