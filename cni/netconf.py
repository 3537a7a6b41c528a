"""The network configuration on stdin: decoding and validation (CNI-002, 006, 020..025).

Plugin keys (all optional)::

    agentSocket   unix socket of the node agent      default contract.DEFAULT_SOCKET
    agentTimeout  seconds for one agent call          default DEFAULT_TIMEOUT
    mtu           MTU of both veth ends               default: the agent's setting
    pool          address pool to allocate from       default: the agent's default
    dns           copied into the ADD result (CNI-024)

Everything else is tolerated and ignored (CNI-022): ``runtimeConfig``, ``args``,
``capabilities``, ``ipam``, ``cni.dev/*`` and unknown keys.
"""

from __future__ import annotations

from cni import streams, versions
from cni.contract import DEFAULT_SOCKET
from cni.environ import is_valid_name
from cni.errors import ERR_DECODE, ERR_INCOMPATIBLE_VERSION, ERR_INVALID_CONFIG, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any, Dict, List, Optional, Tuple
else:
    from cni.records import record as dataclass

DEFAULT_TIMEOUT = 20.0
"""Seconds per agent call: well inside containerd's 1 min cleanup and the kubelet's
2 min deadline (CNI-046)."""
MAX_TIMEOUT = 100.0
STATUS_TIMEOUT = 1.0
"""STATUS feeds the node's NetworkReady condition and must answer fast (CNI-082)."""
VALID_ATTACHMENT_KEYS = ("cni.dev/valid-attachments", "cni.dev/attachments")
"""The GC key, under its current name and the ``spec-v1.1.0`` one (CNI-100)."""
DNS_LIST_KEYS = ("nameservers", "search", "options")


@dataclass(frozen=True)
class NetConf:
    cni_version: str
    name: str
    agent_socket: str = DEFAULT_SOCKET
    agent_timeout: float = DEFAULT_TIMEOUT
    mtu: Optional[int] = None
    pool: Optional[str] = None
    dns: Optional[Dict[str, Any]] = None
    prev_result: Optional[Dict[str, Any]] = None
    raw: Optional[Dict[str, Any]] = None


def _invalid(key: str, value: object, why: str) -> CniError:
    return CniError(ERR_INVALID_CONFIG, f"invalid {key}: {why}", f"{key}={value!r}")


def decode(text: str) -> Dict[str, Any]:
    """Decode stdin into one JSON object; code 6 otherwise (CNI-020)."""
    try:
        conf = streams.loads(text)
    except (ValueError, RecursionError) as err:
        raise CniError(ERR_DECODE, "error unmarshalling network config", str(err)) from None
    if not isinstance(conf, dict):
        raise CniError(ERR_DECODE, "network config is not a JSON object", type(conf).__name__)
    return conf


def check_version(conf: Dict[str, Any], *, command: str) -> str:
    """The request version if supported and allowed for ``command`` (CNI-002, 006)."""
    version = versions.requested(conf)
    if version not in versions.SUPPORTED_VERSIONS:
        raise CniError(
            ERR_INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f'config is "{version}", plugin supports {list(versions.SUPPORTED_VERSIONS)}',
        )
    minimum = versions.MIN_VERSION_FOR.get(command)
    if minimum is not None and not versions.at_least(version, minimum):
        raise CniError(
            ERR_INCOMPATIBLE_VERSION,
            f"config version does not allow {command}",
            f"{command} needs cniVersion >= {minimum}, config is {version}",
        )
    return version


def _timeout(conf: Dict[str, Any]) -> float:
    value = conf.get("agentTimeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid("agentTimeout", value, "must be a number of seconds")
    if not 0 < value <= MAX_TIMEOUT:
        raise _invalid("agentTimeout", value, f"must be in (0, {MAX_TIMEOUT:g}]")
    return float(value)


def _mtu(conf: Dict[str, Any]) -> Optional[int]:
    value = conf.get("mtu")
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 68 <= value <= 65535:
        raise _invalid("mtu", value, "must be an integer in [68, 65535]")
    return value


def _string(conf: Dict[str, Any], key: str) -> Optional[str]:
    value = conf.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(key, value, "must be a non-empty string")
    return value


def _dns(conf: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The config-level ``dns`` block, with its empty fields dropped (CNI-024/067)."""
    value = conf.get("dns")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("dns", value, "must be an object")
    dns: Dict[str, Any] = {}
    for key in DNS_LIST_KEYS:
        items = value.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _invalid(f"dns.{key}", items, "must be a list of strings")
        if items:
            dns[key] = list(items)
    domain = value.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise _invalid("dns.domain", domain, "must be a string")
    if domain:
        dns["domain"] = domain
    return dns or None


def parse(text: str, *, command: str) -> NetConf:
    """Decode and validate the plugin configuration for ``command``."""
    conf = decode(text)
    version = check_version(conf, command=command)
    name = conf.get("name")
    if not isinstance(name, str) or not is_valid_name(name):
        raise CniError(
            ERR_INVALID_CONFIG,
            "missing or invalid network name",
            f"name={name!r} must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$",
        )
    socket_path = _string(conf, "agentSocket") or DEFAULT_SOCKET
    if not socket_path.startswith("/"):
        raise _invalid("agentSocket", socket_path, "must be an absolute path")
    prev_result = conf.get("prevResult")
    if prev_result is not None and not isinstance(prev_result, dict):
        raise _invalid("prevResult", prev_result, "must be an object")
    return NetConf(
        cni_version=version,
        name=name,
        agent_socket=socket_path,
        agent_timeout=_timeout(conf),
        mtu=_mtu(conf),
        pool=_string(conf, "pool"),
        dns=_dns(conf),
        prev_result=prev_result,
        raw=conf,
    )


def gc_valid_attachments(conf: Dict[str, Any]) -> Optional[List[Tuple[str, str]]]:
    """The GC valid set as ``(containerID, ifname)`` pairs (CNI-100/101).

    ``cni.dev/valid-attachments`` wins over ``cni.dev/attachments``; ``null`` means
    the empty set; ``None`` is returned when neither key is present.
    """
    present = [key for key in VALID_ATTACHMENT_KEYS if key in conf]
    if not present:
        return None
    key = present[0]
    items = conf[key]
    if items is None:
        return []
    if not isinstance(items, list):
        raise _invalid(key, items, "must be a list of attachments")
    valid: List[Tuple[str, str]] = []
    for item in items:
        container_id = item.get("containerID") if isinstance(item, dict) else None
        ifname = item.get("ifname") if isinstance(item, dict) else None
        if not isinstance(container_id, str) or not isinstance(ifname, str):
            raise _invalid(key, item, 'entries must be {"containerID": str, "ifname": str}')
        valid.append((container_id, ifname))
    return valid
