"""``flatnet ipam`` (serve, migrate) and the operator commands pools, nodes, blocks, audit."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click
import httpx

from ipam_service.client import IpamClient, IpamClientError
from ipam_service.tables import output

POOL_COLS = ("name", "family", "block_prefixlen", "cidrs", "description")
NODE_COLS = ("name", "node_ip", "asn", "labels", "last_seen_at")
SESSION_COLS = (
    "peer",
    "state",
    "prefixes_sent",
    "prefixes_acknowledged",
    "since",
    "last_error",
    "reported_at",
)
BLOCK_COLS = ("cidr", "pool", "node", "state", "claimed_at", "released_at")
LEASE_COLS = ("ip", "node", "pod_namespace", "pod_name", "container_id", "ifname", "start", "end")
USAGE_COLS = (
    "pool",
    "blocks_total",
    "blocks_held",
    "blocks_free",
    "addresses_used",
    "addresses_free",
)

url_option = click.option(
    "--url",
    envvar="FLATNET_IPAM_URL",
    default="http://127.0.0.1:8470",
    show_default=True,
    help="IPAM base URL.",
)
token_option = click.option("--token", envvar="FLATNET_TOKEN", default=None, help="Bearer token.")
out_option = click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)


def _client(ctx: click.Context) -> IpamClient:
    obj: dict[str, Any] = ctx.obj
    return IpamClient(obj["url"], token=obj["token"])


def _run(ctx: click.Context, fn: Any, *, columns: tuple[str, ...]) -> None:
    try:
        data = fn(_client(ctx))
    except IpamClientError as exc:
        raise click.ClickException(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach IPAM at {ctx.obj['url']}: {exc}") from exc
    if data is not None:
        click.echo(output(data, fmt=ctx.obj["fmt"], columns=columns))


def _group(name: str, help_text: str) -> click.Group:
    return click.Group(name=name, help=help_text)


def common(fn: Any) -> Any:
    """Give an operator command --url, --token and -o; keep them in ctx.obj."""

    @functools.wraps(fn)
    def wrapper(ctx: click.Context, url: str, token: str | None, fmt: str, **kwargs: Any) -> Any:
        ctx.obj = {"url": url, "token": token, "fmt": fmt}
        return ctx.invoke(fn, ctx, **kwargs)

    decorated: Any = click.pass_context(wrapper)
    return url_option(token_option(out_option(decorated)))


@click.group(help="The central IPAM service.")
def ipam() -> None:
    pass


@ipam.command(help="Run the IPAM API (embedded PostgreSQL unless FLATNET_DATABASE_URL is set).")
@click.option("--host", default=None, help="Listen address (FLATNET_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (FLATNET_PORT).")
@click.option("--workers", type=int, default=None, help="Worker processes (FLATNET_WORKERS).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedded PostgreSQL data directory (FLATNET_DATA_DIR).",
)
def serve(host: str | None, port: int | None, workers: int | None, data_dir: Path | None) -> None:
    from ipam_service.config import IpamSettings
    from ipam_service.main import serve as run

    given: dict[str, Any] = {"host": host, "port": port, "workers": workers, "data_dir": data_dir}
    run(IpamSettings(**{k: v for k, v in given.items() if v is not None}))


@ipam.command(help="Upgrade the database schema to the newest revision and exit.")
def migrate() -> None:
    from ipam_service.config import IpamSettings
    from ipam_service.database import migrate as upgrade
    from ipam_service.main import resolve_database_url

    settings = IpamSettings()
    upgrade(resolve_database_url(settings), lock_id=settings.migration_lock_id)
    click.echo("schema is at head")


pools = _group("pools", "Operator commands for pools.")


@pools.command("list")
@common
def pools_list(ctx: click.Context) -> None:
    _run(ctx, lambda c: list(c.pages("/v1/pools", {})), columns=POOL_COLS)


@pools.command("get")
@click.argument("name")
@common
def pools_get(ctx: click.Context, name: str) -> None:
    _run(ctx, lambda c: c.request("GET", f"/v1/pools/{name}"), columns=POOL_COLS)


@pools.command("create")
@click.argument("name")
@click.option("--cidr", "cidrs", multiple=True, required=True, help="Pool CIDR (repeatable).")
@click.option("--block-prefixlen", type=int, required=True)
@click.option("--reserve", multiple=True, help="Reserved CIDR (repeatable).")
@click.option("--subnet", multiple=True, help="CIDR=label=value topology subnet (repeatable).")
@click.option("--description", default="")
@common
def pools_create(
    ctx: click.Context,
    name: str,
    cidrs: tuple[str, ...],
    block_prefixlen: int,
    reserve: tuple[str, ...],
    subnet: tuple[str, ...],
    description: str,
) -> None:
    subnets = []
    for item in subnet:
        cidr, _, selector = item.partition("=")
        key, _, value = selector.partition("=")
        subnets.append({"cidr": cidr, "node_selector": {key: value}})
    body = {
        "name": name,
        "cidrs": list(cidrs),
        "block_prefixlen": block_prefixlen,
        "reservations": [{"cidr": r} for r in reserve],
        "subnets": subnets,
        "description": description,
    }
    _run(ctx, lambda c: c.request("POST", "/v1/pools", json=body), columns=POOL_COLS)


@pools.command("add-cidr")
@click.argument("name")
@click.argument("cidrs", nargs=-1, required=True)
@common
def pools_add_cidr(ctx: click.Context, name: str, cidrs: tuple[str, ...]) -> None:
    body = {"add_cidrs": list(cidrs)}
    _run(ctx, lambda c: c.request("PATCH", f"/v1/pools/{name}", json=body), columns=POOL_COLS)


@pools.command("delete")
@click.argument("name")
@common
def pools_delete(ctx: click.Context, name: str) -> None:
    _run(ctx, lambda c: c.request("DELETE", f"/v1/pools/{name}"), columns=POOL_COLS)


@pools.command("usage")
@click.argument("name")
@common
def pools_usage(ctx: click.Context, name: str) -> None:
    _run(ctx, lambda c: c.request("GET", f"/v1/pools/{name}/usage"), columns=USAGE_COLS)


nodes = _group("nodes", "Operator commands for nodes.")


@nodes.command("list")
@click.option("--label", default=None, help="key=value filter")
@common
def nodes_list(ctx: click.Context, label: str | None) -> None:
    _run(ctx, lambda c: list(c.pages("/v1/nodes", {"label": label})), columns=NODE_COLS)


@nodes.command("register")
@click.argument("name")
@click.option("--node-ip", required=True)
@click.option("--label", "labels", multiple=True, help="key=value (repeatable)")
@click.option("--asn", type=int, default=None)
@common
def nodes_register(
    ctx: click.Context, name: str, node_ip: str, labels: tuple[str, ...], asn: int | None
) -> None:
    body = {"node_ip": node_ip, "labels": dict(lb.split("=", 1) for lb in labels), "asn": asn}
    _run(ctx, lambda c: c.request("PUT", f"/v1/nodes/{name}", json=body), columns=NODE_COLS)


@nodes.command("delete")
@click.argument("name")
@click.option("--reason", default="deleted by operator")
@common
def nodes_delete(ctx: click.Context, name: str, reason: str) -> None:
    _run(
        ctx,
        lambda c: c.request("DELETE", f"/v1/nodes/{name}", params={"reason": reason}),
        columns=NODE_COLS,
    )


@nodes.command("bgp-sessions")
@click.argument("name")
@common
def nodes_bgp_sessions(ctx: click.Context, name: str) -> None:
    """The node's BGP sessions, as its agent last reported them."""
    _run(ctx, lambda c: c.request("GET", f"/v1/nodes/{name}/bgp-sessions"), columns=SESSION_COLS)


blocks = _group("blocks", "Operator commands for blocks.")


@blocks.command("list")
@click.option("--pool", default=None)
@click.option("--node", default=None)
@click.option("--state", type=click.Choice(["held", "released"]), default="held")
@common
def blocks_list(ctx: click.Context, pool: str | None, node: str | None, state: str) -> None:
    params = {"pool": pool, "node": node, "state": state}
    _run(ctx, lambda c: list(c.pages("/v1/blocks", params)), columns=BLOCK_COLS)


@blocks.command("claim")
@click.argument("node")
@click.option("--pool", required=True)
@click.option("--request-id", default=None)
@common
def blocks_claim(ctx: click.Context, node: str, pool: str, request_id: str | None) -> None:
    body = {"pool": pool, "request_id": request_id}
    _run(
        ctx, lambda c: c.request("POST", f"/v1/nodes/{node}/blocks", json=body), columns=BLOCK_COLS
    )


@blocks.command("release")
@click.argument("node")
@click.argument("cidr")
@click.option("--force", is_flag=True, help="Release even with live owners (closes them).")
@common
def blocks_release(ctx: click.Context, node: str, cidr: str, force: bool) -> None:
    params = {"force": str(force).lower()}
    _run(
        ctx,
        lambda c: c.request("DELETE", f"/v1/nodes/{node}/blocks/{cidr}", params=params),
        columns=BLOCK_COLS,
    )


audit = _group("audit", "Who owned an IP, when.")


@audit.command("ip")
@click.argument("ip")
@click.option("--at", default=None, help="RFC 3339 instant (default now)")
@common
def audit_ip(ctx: click.Context, ip: str, at: str | None) -> None:
    def fetch(c: IpamClient) -> Any:
        answer = c.request("GET", f"/v1/audit/ips/{ip}", params={"at": at} if at else {})
        if ctx.obj["fmt"] == "json":
            return answer
        owner = answer["owner"] or {"ip": ip, "node": "(no owner)"}
        return owner

    _run(ctx, fetch, columns=LEASE_COLS)


@audit.command("history")
@click.argument("ip")
@common
def audit_history(ctx: click.Context, ip: str) -> None:
    _run(ctx, lambda c: list(c.pages(f"/v1/audit/ips/{ip}/history", {})), columns=LEASE_COLS)


@audit.command("pod")
@click.argument("namespace")
@click.argument("name")
@common
def audit_pod(ctx: click.Context, namespace: str, name: str) -> None:
    params = {"namespace": namespace, "name": name}
    _run(ctx, lambda c: list(c.pages("/v1/audit/pods", params)), columns=LEASE_COLS)


@audit.command("export")
@click.option("--since", default=None)
@click.option("--until", default=None)
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), default="ndjson")
@common
def audit_export(ctx: click.Context, since: str | None, until: str | None, fmt: str) -> None:
    params = {k: v for k, v in {"since": since, "until": until, "format": fmt}.items() if v}
    try:
        for line in _client(ctx).stream_lines("/v1/audit/export", params):
            click.echo(line)
    except IpamClientError as exc:
        raise click.ClickException(str(exc)) from exc
