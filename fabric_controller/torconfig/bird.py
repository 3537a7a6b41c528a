"""Render a ToR config for BIRD 2 (tested with 2.0.12). Pure: spec in, text out.

Shape (fabric-lab section 10.2): ``router id``, the device protocol, kernel protocols
that install BGP routes, a template with the fabric's timers, graceful restart and
MD5, then either one passive BGP protocol per node (``static``) or one ``neighbor
range`` protocol per rack subnet with a per-node filter keyed on ``from``
(``dynamic``). Every import accepts only the node's own blocks at their exact length
(a prefix-set entry without ``{}`` or ``+`` matches that prefix alone), only with the
node itself as next hop (``bgp_next_hop = from``). ``receive limit`` counts every
route the node sends, filtered or not (``import keep filtered`` stores them, so a flood
must be bounded), and resets the session past the limit. Last, when the controller runs
a route collector for this ToR, the ToR's active sessions to it (:func:`collector`).
"""

from __future__ import annotations

from fabric_controller.torconfig.spec import (
    CollectorSession,
    CollectorSide,
    Family,
    NodeSide,
    TorConfigSpec,
    header,
    ident,
)

TEMPLATE = "flatnet_node"
BGP_PORT = 179


def _quote(text: str) -> str:
    # BIRD strings have no escapes; the secret loader refuses '"' and '\', so this holds.
    if '"' in text or "\\" in text or "\n" in text:
        raise ValueError("a BIRD string cannot hold a quote, backslash or newline")
    return f'"{text}"'


def _prefix_set(node: NodeSide, family: Family) -> str:
    return "[ " + ", ".join(str(b) for b in node.blocks_of(family)) + " ]"


def _base(spec: TorConfigSpec) -> list[str]:
    out = [
        "",
        "# --- base: keep your own if the ToR config already has these ---",
        f"router id {spec.tor.router_id};",
        "protocol device { scan time 10; }",
    ]
    for family in spec.families():
        out.append(
            f"protocol kernel flatnet_kernel{family} {{ ipv{family} {{ import none;"
            " export where source = RTS_BGP; }; merge paths on; }"
        )
    return out


def _template(spec: TorConfigSpec) -> list[str]:
    p = spec.policy
    out = [
        "",
        "# --- node sessions ---",
        f"template bgp {TEMPLATE} {{",
        f"  hold time {p.hold_time};",
        f"  keepalive time {p.keepalive_time};",
        "  passive on;  # nodes dial in",
        "  graceful restart on;",
        f"  graceful restart time {max(p.graceful_restart_time, 1)};",
    ]
    if p.md5_password is not None:
        out.append(f"  password {_quote(p.md5_password)};")
    return [*out, "}"]


def _channel(family: Family, import_rule: str, limit: int) -> list[str]:
    return [
        f"  ipv{family} {{",
        "    import keep filtered on;",
        f"    {import_rule}",
        f"    receive limit {limit} action restart;",
        "    export none;",
        "  };",
    ]


def _static(spec: TorConfigSpec) -> list[str]:
    out: list[str] = []
    for family in spec.families():
        local = spec.tor.address(family)
        for node in spec.peers(family):
            rule = "import none;  # holds no blocks"
            if node.blocks_of(family):
                rule = f"import where net ~ {_prefix_set(node, family)} && bgp_next_hop = from;"
            out += [
                f"protocol bgp flatnet_{ident(node.name)} from {TEMPLATE} {{",
                f'  description "node {node.name}";',
                f"  local {local} as {spec.tor.asn};",
                f"  neighbor {node.address} as {node.asn};",
                *_channel(family, rule, spec.policy.max_prefixes),
                "}",
            ]
    return out


def _node_filter(spec: TorConfigSpec, family: Family) -> list[str]:
    out = [f"filter flatnet_nodes_v{family} {{", "  if bgp_next_hop != from then reject;"]
    for node in spec.peers(family):
        if not node.blocks_of(family):
            out.append(f"  # {node.name} ({node.address}) holds no blocks")
            continue
        test = f"net ~ {_prefix_set(node, family)}"
        if spec.asn_model == "per-node":
            test += f" && bgp_path.first = {node.asn}"
        out += [
            f"  if from = {node.address} then {{  # {node.name}",
            f"    if {test} then accept;",
            "    reject;",
            "  }",
        ]
    return [*out, "  reject;", "}"]


def _dynamic(spec: TorConfigSpec) -> list[str]:
    remote = "external" if spec.rack_asn is None else f"as {spec.rack_asn}"
    out: list[str] = []
    for family in spec.families():
        ranges = spec.ranges(family)
        if not ranges:
            continue
        out += _node_filter(spec, family)
        rule = f"import filter flatnet_nodes_v{family};"
        for n, subnet in enumerate(ranges):
            name = f"flatnet_range_v{family}_{n}"
            out += [
                f"protocol bgp {name} from {TEMPLATE} {{",
                f'  description "rack {spec.rack} nodes in {subnet}";',
                f"  local {spec.tor.address(family)} as {spec.tor.asn};",
                f"  neighbor range {subnet} {remote};",
                f'  dynamic name "{name}_";',
                *_channel(family, rule, spec.policy.max_prefixes),
                "}",
            ]
    return out


def _collector_session(
    side: CollectorSide, session: CollectorSession, *, name: str, asn: int
) -> list[str]:
    port = "" if side.port == BGP_PORT else f" port {side.port}"
    first, most = side.error_wait
    out = [
        f"protocol bgp {name} {{",
        '  description "flatnet route collector";',
        f"  local {session.local} as {asn};",
        f"  neighbor {session.address}{port} as {side.asn};",
        f"  hold time {side.hold_time};",
        f"  connect retry time {side.connect_retry};",
        f"  error wait time {first}, {most};",
    ]
    if side.multihop:
        out.append(f"  multihop {side.multihop};")
    if side.md5_password is not None:
        out.append(f"  password {_quote(side.md5_password)};")
    for family in session.families:
        out.append(
            f"  ipv{family} {{ import none; export where source = RTS_BGP;"
            " next hop keep; add paths tx; };"
        )
    return [*out, "}"]


def collector(side: CollectorSide, *, asn: int) -> list[str]:
    """The ToR's sessions to the route collector (fabric-lab section 8): nothing imported,
    every BGP path exported (ADD-PATH) with the nodes' own next hops. The collector is
    passive, so the ToR dials it, and retries soon after the collector restarts."""
    out = ["", "# --- route collector (fabric controller): receive-only, every path ---"]
    for n, session in enumerate(side.sessions):
        name = "flatnet_collector" if n == 0 else f"flatnet_collector_{n}"
        out += _collector_session(side, session, name=name, asn=asn)
    return out


def render(spec: TorConfigSpec) -> str:
    out = header(spec, daemon="BIRD 2", comment="#")
    out += _base(spec)
    out += _template(spec)
    out += _static(spec) if spec.peering == "static" else _dynamic(spec)
    if spec.collector is not None:
        out += collector(spec.collector, asn=spec.tor.asn)
    return "\n".join(out) + "\n"
