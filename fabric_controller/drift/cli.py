"""``flatnet drift``: the fabric's routes against IPAM, from a running controller.

Talks HTTP to the controller (``--url`` / ``FLATNET_CONTROLLER_URL``, ``--token`` /
``FLATNET_TOKEN``). Prints a table, or the API's JSON with ``-o json``. With
``--fail-on-drift`` the exit code is 3 when any entry is listed (for scripts and CI).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import get_args

import click
import httpx

from fabric_controller.drift.schemas import DriftReport, Kind

DEFAULT_URL = "http://127.0.0.1:8471"
TIMEOUT_SECONDS = 60.0

KINDS: tuple[Kind, ...] = get_args(Kind)
COLUMNS = ("kind", "prefix", "node", "tor", "since", "next_hop", "detail")
DRIFT_EXIT = 3


def age(since: datetime, now: datetime) -> str:
    """datetime -> '2d3h', '4m05s', '12s'."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def render_table(report: DriftReport, *, now: datetime) -> str:
    rows = [
        {
            "kind": e.kind,
            "prefix": str(e.prefix),
            "node": e.node or "-",
            "tor": e.tor,
            "since": f"{e.since:%Y-%m-%dT%H:%M:%SZ} ({age(e.since, now)})",
            "next_hop": "-" if e.next_hop is None else str(e.next_hop),
            "detail": e.detail,
        }
        for e in report.entries
    ]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    lines = ["  ".join(c.upper().replace("_", " ").ljust(widths[c]) for c in COLUMNS).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip() for r in rows]
    counts = ", ".join(f"{k} {report.counts.get(k, 0)}" for k in KINDS)
    lines.append(f"{len(rows)} listed; in the whole report: {counts}")
    for tor in report.tors:
        complete = ", ".join(f"ipv{v}" for v in tor.complete) or "none"
        lines.append(f"ToR {tor.name}: {tor.state}, {tor.paths} paths, complete views: {complete}")
    return "\n".join(lines)


def fetch(url: str, token: str | None, params: dict[str, str | list[str]]) -> object:
    """GET /v1/drift; a problem+json answer or a transport failure is a ClickException."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/v1/drift", params=params, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the controller at {url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            problem = response.json()
            text = f"{problem.get('title', '')}: {problem.get('detail', '')}"
        except ValueError:
            text = response.text[:200]
        raise click.ClickException(f"{response.status_code} {text}")
    return response.json()


@click.command(help="Compare the fabric's routes (route collector) with IPAM.")
@click.option("--url", envvar="FLATNET_CONTROLLER_URL", default=DEFAULT_URL, show_default=True)
@click.option("--token", envvar="FLATNET_TOKEN", default=None, help="Bearer token.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Repeatable.")
@click.option("--node", default=None, help="Only entries of this node.")
@click.option("--tor", default=None, help="Only entries seen on this ToR.")
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option("--fail-on-drift", is_flag=True, help=f"Exit {DRIFT_EXIT} when any entry is listed.")
def drift(
    url: str,
    token: str | None,
    kinds: tuple[str, ...],
    node: str | None,
    tor: str | None,
    fmt: str,
    fail_on_drift: bool,
) -> None:
    params: dict[str, str | list[str]] = {"kind": list(kinds)}
    params.update({k: v for k, v in (("node", node), ("tor", tor)) if v is not None})
    body = fetch(url, token, params)
    report = DriftReport.model_validate(body)
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(render_table(report, now=datetime.now(tz=UTC)))
        if not report.complete:
            click.echo(
                "warning: some ToR views are incomplete; 'missing' is not judged there", err=True
            )
    if fail_on_drift and report.entries:
        raise SystemExit(DRIFT_EXIT)
