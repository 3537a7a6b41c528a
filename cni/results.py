"""Result shaping: a pure function from an agent ``Attachment`` to a versioned result.

Which keys each version allows (CNI-060..062)::

    field                              0.3.x / 0.4.0   1.0.0   1.1.0
    interfaces[] name, mac, sandbox         yes         yes     yes
    interfaces[] mtu, socketPath, pciID      -           -      yes
    ips[] address, gateway, interface       yes         yes     yes
    ips[] version ("4" / "6")             required       -       -
    routes[] dst, gw                        yes         yes     yes
    routes[] mtu, advmss, priority,          -           -      yes
             table, scope
    dns nameservers, domain, search,        yes         yes     yes
        options

A ``prevResult`` (CNI-044/125) is parsed leniently (CNI-025), projected onto the
same key sets, and our interfaces, IPs and routes are appended to it; our IPs point
at our sandbox interface by its index in the merged list (CNI-063). The host veth
is listed without ``sandbox``, the pod's interface with ``sandbox`` equal to
``CNI_NETNS`` verbatim (CNI-064). Empty lists and an empty ``dns`` are omitted,
never ``null`` (CNI-067). No I/O happens here.
"""

from __future__ import annotations

from cni import versions
from cni.contract import Attachment
from cni.errors import ERR_INVALID_CONFIG, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    Json = Dict[str, Any]

INTERFACE_KEYS = ("name", "mac", "sandbox")
INTERFACE_KEYS_1_1 = ("mtu", "socketPath", "pciID")
IP_KEYS = ("address", "gateway", "interface")
ROUTE_KEYS = ("dst", "gw")
ROUTE_KEYS_1_1 = ("mtu", "advmss", "priority", "table", "scope")
DNS_KEYS = ("nameservers", "domain", "search", "options")


def ip_version(address: str) -> str:
    """``"6"`` for an IPv6 CIDR, else ``"4"`` (the 0.3.x/0.4.0 ``version`` field)."""
    return "6" if ":" in address else "4"


def _key_sets(cni_version: str) -> Tuple[Tuple[str, ...], Tuple[str, ...], bool]:
    if versions.at_least(cni_version, "1.1.0"):
        return INTERFACE_KEYS + INTERFACE_KEYS_1_1, ROUTE_KEYS + ROUTE_KEYS_1_1, False
    return INTERFACE_KEYS, ROUTE_KEYS, not versions.at_least(cni_version, "1.0.0")


def _project(entry: Json, keys: Tuple[str, ...]) -> Json:
    return {key: entry[key] for key in keys if entry.get(key) is not None}


def _entries(prev: Json, key: str) -> List[Json]:
    """A list of objects from ``prevResult``; absent or ``null`` is empty."""
    value = prev.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CniError(ERR_INVALID_CONFIG, f"invalid prevResult: {key} must be a list of objects")
    return value


def normalize(result: Json, *, cni_version: str) -> Json:
    """Project any result document onto the key sets of ``cni_version``."""
    iface_keys, route_keys, with_ip_version = _key_sets(cni_version)
    shaped: Json = {"cniVersion": cni_version}
    interfaces = [_project(i, iface_keys) for i in _entries(result, "interfaces")]
    ips = []
    for entry in _entries(result, "ips"):
        ip = _project(entry, IP_KEYS)
        if with_ip_version and isinstance(ip.get("address"), str):
            ip["version"] = ip_version(ip["address"])
        ips.append(ip)
    routes = [_project(r, route_keys) for r in _entries(result, "routes")]
    for key, items in (("interfaces", interfaces), ("ips", ips), ("routes", routes)):
        if items:
            shaped[key] = items
    dns = result.get("dns")
    if isinstance(dns, dict):
        dns = _project(dns, DNS_KEYS)
        if dns:
            shaped["dns"] = dns
    return shaped


def _own_entries(
    attachment: Attachment, *, sandbox_index: int, with_mtu: bool
) -> Tuple[List[Json], List[Json], List[Json]]:
    host: Json = {"name": attachment.host_ifname, "mac": attachment.host_mac}
    pod: Json = {"name": attachment.ifname, "mac": attachment.mac, "sandbox": attachment.sandbox}
    if with_mtu and attachment.mtu:
        host["mtu"] = pod["mtu"] = attachment.mtu
    ips: List[Json] = []
    for ip in attachment.ips:
        entry: Json = {"address": ip.address, "interface": sandbox_index}
        if ip.gateway:
            entry["gateway"] = ip.gateway
        ips.append(entry)
    routes: List[Json] = []
    for route in attachment.routes:
        routes.append({"dst": route.dst, "gw": route.gw} if route.gw else {"dst": route.dst})
    return [host, pod], ips, routes


def shape_add_result(
    attachment: Attachment,
    *,
    cni_version: str,
    prev_result: Optional[Json] = None,
    dns: Optional[Json] = None,
) -> Json:
    """The ADD result for ``cni_version``, merged into ``prev_result`` if given.

    ``dns`` is the config-level block; when set it replaces the previous ``dns``,
    as ptp does (CNI-024).
    """
    prev = normalize(prev_result or {}, cni_version=cni_version)
    prev_interfaces = prev.get("interfaces", [])
    interfaces, ips, routes = _own_entries(
        attachment,
        sandbox_index=len(prev_interfaces) + 1,
        with_mtu=versions.at_least(cni_version, "1.1.0"),
    )
    merged: Json = {
        "cniVersion": cni_version,
        "interfaces": prev_interfaces + interfaces,
        "ips": prev.get("ips", []) + ips,
        "routes": prev.get("routes", []) + routes,
        "dns": dns if dns else prev.get("dns"),
    }
    return normalize(merged, cni_version=cni_version)


def sandbox_index(result: Json, *, ifname: str, netns: str) -> Optional[int]:
    """Index of the interface named ``ifname`` whose sandbox is ``netns``, if listed."""
    for index, iface in enumerate(_entries(result, "interfaces")):
        if iface.get("name") == ifname and iface.get("sandbox") == netns:
            return index
    return None


def addresses_for(result: Json, *, ifname: str, netns: str) -> List[str]:
    """The addresses ``prevResult`` claims for our attachment, for CHECK (CNI-070).

    IPs that point at our sandbox interface count, and so do IPs without an
    ``interface`` index (a lenient prevResult, CNI-025).
    """
    index = sandbox_index(result, ifname=ifname, netns=netns)
    found: List[str] = []
    for ip in _entries(result, "ips"):
        address = ip.get("address")
        if not isinstance(address, str):
            continue
        if ip.get("interface") is None or (index is not None and ip.get("interface") == index):
            found.append(address)
    return found
