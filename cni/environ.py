"""The ``CNI_*`` environment parameters: parsing and validation (CNI-010..019).

libcni always exports all six variables, empty when unused (CNI-011), and the plugin
also inherits the runtime's whole environment, so "empty" means "unset" here and
nothing else from the environment is read.
"""

from __future__ import annotations

# ``posix`` rather than ``os``: it is built in and already loaded, while importing ``os``
# costs more than a millisecond on every CNI call (docs/benchmarks.md).
import posix

from cni.contract import PodRef
from cni.errors import ERR_INVALID_ENV, ERR_INVALID_NETNS, CniError
from cni.streams import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Dict, Mapping, Tuple
else:
    from cni.records import field
    from cni.records import record as dataclass

REQUIRED: Dict[str, Tuple[str, ...]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "STATUS": (),
    "GC": (),
}
"""Non-empty variables each verb needs. ``CNI_PATH`` is never required: we do not
delegate (CNI-012, errata 7). VERSION is handled before this module is imported."""

IFNAMSIZ = 16
_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_REST = _ID_FIRST | frozenset("_.-")
_OWN_NETNS = "/proc/self/ns/net"


@dataclass(frozen=True)
class CniEnv:
    """The validated parameters of one invocation."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: Dict[str, str] = field(default_factory=dict)
    pod: PodRef = field(default_factory=PodRef)


def is_valid_name(value: str) -> bool:
    """``^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$``, for container ids and network names."""
    return bool(value) and value[0] in _ID_FIRST and all(c in _ID_REST for c in value)


def ifname_problem(ifname: str) -> str:
    """Why libcni's ``ValidateInterfaceName`` would refuse ``ifname``; ``""`` if valid."""
    if not ifname:
        return "interface name is empty"
    if len(ifname.encode("utf-8", "surrogateescape")) > IFNAMSIZ - 1:
        return "interface name is too long"
    if ifname in (".", ".."):
        return "interface name is . or .."
    if any(c in "/:" or c.isspace() for c in ifname):
        return "interface name contains / or : or whitespace characters"
    return ""


def parse_cni_args(raw: str) -> Dict[str, str]:
    """Parse ``K=V;K=V`` (CNI-018): split on ``;``, then on the first ``=``.

    Order does not matter, the last duplicate wins (Go ``LoadArgs``), empty pairs
    are skipped and a pair without ``=`` is logged and ignored rather than fatal.
    """
    args: Dict[str, str] = {}
    for pair in raw.split(";"):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            log("warning", "ignoring malformed CNI_ARGS pair", pair=pair)
            continue
        args[key] = value
    return args


def pod_ref(args: Mapping[str, str]) -> PodRef:
    """Kubernetes identity, metadata only; empty when the runtime sends none (CNI-019)."""
    return PodRef(
        namespace=args.get("K8S_POD_NAMESPACE", ""),
        name=args.get("K8S_POD_NAME", ""),
        uid=args.get("K8S_POD_UID", ""),
    )


def from_environ(environ: Mapping[str, str]) -> CniEnv:
    """Validate the parameters of any verb but VERSION; raise ``CniError`` code 4."""
    command = environ.get("CNI_COMMAND", "")
    if command not in REQUIRED:
        raise CniError(ERR_INVALID_ENV, f"unknown CNI_COMMAND: {command}")
    missing = [name for name in REQUIRED[command] if not environ.get(name)]
    if missing:
        raise CniError(ERR_INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    if not REQUIRED[command]:
        return CniEnv(command=command)
    container_id = environ["CNI_CONTAINERID"]
    if not is_valid_name(container_id):
        raise CniError(
            ERR_INVALID_ENV,
            "invalid characters in containerID",
            f"CNI_CONTAINERID {container_id!r} must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$",
        )
    ifname = environ["CNI_IFNAME"]
    problem = ifname_problem(ifname)
    if problem:
        raise CniError(ERR_INVALID_ENV, problem, f"CNI_IFNAME={ifname!r}")
    args = parse_cni_args(environ.get("CNI_ARGS", ""))
    return CniEnv(
        command=command,
        container_id=container_id,
        netns=environ.get("CNI_NETNS", ""),
        ifname=ifname,
        args=args,
        pod=pod_ref(args),
    )


def check_netns(env: CniEnv) -> None:
    """Refuse a netns the plugin cannot hand to the agent (CNI-016/017/052).

    The path is passed verbatim, never canonicalised. It must be absolute because
    the agent resolves it from its own working directory. It must not be the
    plugin's own netns (Go skel's code 8): the agent would then wire, or on DEL
    delete, ``CNI_IFNAME`` in the host. A missing path fails ADD and CHECK but not
    DEL, which still cleans the host side (CNI-052).
    """
    if not env.netns:
        return
    if not env.netns.startswith("/"):  # posixpath.isabs
        raise CniError(ERR_INVALID_ENV, "CNI_NETNS must be an absolute path", env.netns)
    try:
        target = posix.stat(env.netns)
    except OSError as err:
        if env.command == "DEL":
            return
        raise CniError(ERR_INVALID_NETNS, "failed to open netns", f"{env.netns}: {err}") from err
    try:
        own = posix.stat(_OWN_NETNS)
    except OSError:
        return
    if (target.st_dev, target.st_ino) == (own.st_dev, own.st_ino):
        raise CniError(
            ERR_INVALID_NETNS,
            "plugin must not be executed in the target netns",
            f"CNI_NETNS {env.netns} is the plugin's own network namespace",
        )
