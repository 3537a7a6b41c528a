"""What ``flatnet lab status`` shows: one JSON document for scripts, tables for people.

The document (``flatnet lab status -o json``)::

    {"lab": "fl1a2b3c", "state_file": "...", "tor_kind": "bird",
     "tors":  [{"name", "netns", "address", "asn", "running", "pids", "control"}],
     "ipam":  {"url", "admin_token_file", "pid", "postgres_pid"},
     "nodes": [{"name", "netns", "address", "asn", "socket", "agent_pid", "exabgp_pid",
                "registered", "sessions": [{"peer", "state", ...}], "blocks": [...],
                "error"}],
     "pods":  [{"name", "node", "netns", "netns_path", "ip", "ips", "container_id", "pool"}],
     "routes": {"<prefix>": ["<next hop>", ...]}}

Live parts (agent status, ToR routes) are read when the command runs; a part that does
not answer shows as an ``error`` instead of failing the whole command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flatnet.lab.errors import LabError, LabStateNotFound
from flatnet.lab.fabric import Fabric
from flatnet.lab.lab import STATE_FILE
from flatnet.lab.settings import LabSettings
from flatnet.lab.tor import BirdTor


def find_state(settings: LabSettings, lab: str | None) -> Path:
    """The state file of ``lab`` (a name, a directory or a state file), or of the only lab."""
    if lab is not None:
        given = Path(lab)
        for candidate in (given, given / STATE_FILE, settings.state_root / lab / STATE_FILE):
            if candidate.is_file():
                return candidate
        raise LabStateNotFound(f"no lab {lab!r} (looked in {settings.state_root})")
    found = sorted(settings.state_root.glob(f"*/{STATE_FILE}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise LabStateNotFound(f"no lab in {settings.state_root}; run 'flatnet lab up'")
    names = ", ".join(p.parent.name for p in found)
    raise LabError(f"several labs ({names}): choose one with --lab")


def status_document(fabric: Fabric) -> dict[str, Any]:
    lab = fabric.lab
    procs = lab.processes
    doc: dict[str, Any] = {
        "lab": lab.topology.prefix,
        "state_file": str(lab.state_file),
        "tor_kind": lab.tor_kind,
        "tors": [_tor(fabric, index) for index in lab.tors],
        "ipam": {
            "url": fabric.ipam.url,
            "admin_token_file": str(fabric.ipam.admin_token_file),
            "pid": procs["ipam"].resolve() if "ipam" in procs else None,
            "postgres_pid": procs["postgres"].resolve() if "postgres" in procs else None,
        },
        "nodes": [_node(fabric, name) for name in fabric.agents],
        "pods": [pod.to_json() for pod in fabric.pods.values()],
    }
    try:
        doc["routes"] = {k: sorted(v) for k, v in sorted(lab.routes().items())}
    except LabError as exc:
        doc["routes"] = {}
        doc["routes_error"] = str(exc)
    return doc


def _tor(fabric: Fabric, index: int) -> dict[str, Any]:
    plan, tor = fabric.lab.topology.tor(index), fabric.lab.tor(index)
    control = (
        f"ip netns exec {plan.netns} birdc -s {tor.ctl}"
        if isinstance(tor, BirdTor)
        else f"vtysh --vty_socket {tor.directory}"
    )
    return {
        "name": f"tor{index}",
        "netns": plan.netns,
        "address": [str(plan.ipv4.ip), str(plan.ipv6.ip)],
        "asn": plan.asn,
        "running": tor.running(),
        "pids": tor.pids(),
        "control": control,
    }


def _node(fabric: Fabric, name: str) -> dict[str, Any]:
    agent = fabric.agents[name]
    record = fabric.lab.processes.get(f"agent-{name}")
    out: dict[str, Any] = {
        "name": name,
        "netns": agent.node.netns,
        "address": [str(agent.node.links[0].ipv4.ip), str(agent.node.links[0].ipv6.ip)],
        "asn": agent.node.asn,
        "socket": str(agent.socket),
        "agent_pid": record.resolve() if record is not None else None,
        "exabgp_pid": agent.exabgp().resolve(),
        "registered": False,
        "sessions": [],
        "blocks": [],
        "error": "",
    }
    try:
        status = agent.status()
    except LabError as exc:
        out["error"] = str(exc)
        return out
    out["registered"] = status["ipam"]["registered"]
    out["sessions"] = status["announcer"]["peers"]
    out["blocks"] = [b["cidr"] for b in status["blocks"]]
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def render(doc: dict[str, Any]) -> str:
    ipam = doc["ipam"]
    out = [f"lab {doc['lab']} ({doc['tor_kind']} ToR)   state: {doc['state_file']}", ""]
    tors = [
        [
            t["name"],
            t["netns"],
            ",".join(t["address"]),
            str(t["asn"]),
            "yes" if t["running"] else "NO",
        ]
        for t in doc["tors"]
    ]
    out += [_table(tors, ["tor", "netns", "address", "asn", "running"]), ""]
    out += [f"ipam {ipam['url']}  pid {ipam['pid']}  admin token: {ipam['admin_token_file']}", ""]
    nodes = []
    for n in doc["nodes"]:
        sessions = " ".join(f"{s['peer']}:{s['state']}" for s in n["sessions"]) or n["error"]
        nodes.append(
            [n["name"], n["netns"], n["address"][0], str(n["asn"]), str(n["agent_pid"]),
             str(n["exabgp_pid"]), " ".join(n["blocks"]), sessions]
        )  # fmt: skip
    header = ["node", "netns", "address", "asn", "agent", "exabgp", "blocks", "bgp"]
    out += [_table(nodes, header), ""]
    pods = [[p["name"], p["node"], ",".join(p["ips"]), p["netns_path"]] for p in doc["pods"]]
    out += [_table(pods, ["pod", "node", "ips", "netns"]), ""]
    routes = [[prefix, ",".join(hops)] for prefix, hops in doc["routes"].items()]
    out += [_table(routes, ["tor route", "via"])]
    return "\n".join(out)
