"""The CNI verbs: turn a validated request into agent calls and a result.

How agent failures map to CNI codes, per verb::

    verb    unreachable / timeout    agent error body          bad reply
    ADD     11 try again later       its code, passed through  999, after a DEL
    DEL     11 (runtime retries)     its code; 3 -> success    999
    CHECK   11                       its code                  999
    GC      11                       its code                  999
    STATUS  50 not available         51 kept, otherwise 50     50

DEL returns 11 rather than success when the agent is down: only the agent can
remove the host veth and the /32 route, so claiming success would leak them until
the next GC; the kubelet retries a failed DEL (CNI-054). DEL never returns code 3.
"""

from __future__ import annotations

from cni import netconf, results
from cni.agentclient import (
    AgentCallError,
    AgentProtocolError,
    AgentRefused,
    AgentTimeout,
    AgentUnreachable,
)
from cni.contract import (
    AddRequest,
    Attachment,
    AttachmentKey,
    CheckRequest,
    DelRequest,
    GcRequest,
    StatusReply,
)
from cni.environ import CniEnv
from cni.errors import (
    ERR_INTERNAL,
    ERR_INVALID_CONFIG,
    ERR_LIMITED_CONNECTIVITY,
    ERR_PLUGIN_NOT_AVAILABLE,
    ERR_TRY_AGAIN_LATER,
    ERR_UNKNOWN_CONTAINER,
    CniError,
)
from cni.netconf import NetConf
from cni.streams import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    # typing costs milliseconds per CNI call; the protocol exists for the checker only.
    from typing import Callable, Dict, List, Optional, Protocol, TypeVar

    T = TypeVar("T")
    Result = Optional[Dict[str, object]]

    class Agent(Protocol):
        """What the verbs need from the node agent (:class:`cni.agentclient.AgentClient`)."""

        def add(self, request: AddRequest) -> Attachment: ...
        def delete(self, request: DelRequest) -> None: ...
        def check(self, request: CheckRequest) -> None: ...
        def gc(self, request: GcRequest) -> List[str]: ...
        def status(self) -> StatusReply: ...


def agent_timeout(command: str, conf: NetConf) -> float:
    """Seconds for the agent call of ``command``; STATUS stays fast (CNI-082)."""
    if command == "STATUS":
        return min(conf.agent_timeout, netconf.STATUS_TIMEOUT)
    return conf.agent_timeout


def _key(env: CniEnv, conf: NetConf) -> AttachmentKey:
    """Allocations are keyed by (network, containerID, ifname); pods are metadata."""
    return AttachmentKey(network=conf.name, container_id=env.container_id, ifname=env.ifname)


def _call(verb: str, call: Callable[[], T]) -> T:
    """Run one agent call and translate its failure with the table above."""
    try:
        return call()
    except (AgentUnreachable, AgentTimeout) as err:
        raise CniError(
            ERR_TRY_AGAIN_LATER, "node agent unavailable, try again later", str(err)
        ) from None
    except AgentRefused as err:
        raise CniError(err.error.code, err.error.msg, err.error.details) from None
    except AgentProtocolError as err:
        raise CniError(
            ERR_INTERNAL, f"{verb}: unexpected reply from the node agent", str(err)
        ) from None


def verify_attachment(attachment: Attachment, env: CniEnv) -> None:
    """Refuse a reply that would make a result the runtimes reject (CNI-063..065)."""
    problems = []
    if attachment.ifname != env.ifname:
        problems.append(f"ifname {attachment.ifname!r} is not CNI_IFNAME {env.ifname!r}")
    if attachment.sandbox != env.netns:
        problems.append(f"sandbox {attachment.sandbox!r} is not CNI_NETNS {env.netns!r}")
    if not _is_mac(attachment.mac):
        problems.append(f"pod mac {attachment.mac!r} is not aa:bb:cc:dd:ee:ff")
    if not attachment.ips:
        problems.append("no IP addresses")
    if problems:
        raise CniError(
            ERR_INTERNAL, "node agent returned an unusable attachment", "; ".join(problems)
        )


def _is_mac(mac: str) -> bool:
    parts = mac.split(":")
    hexdigits = "0123456789abcdefABCDEF"
    return len(parts) == 6 and all(len(p) == 2 and all(c in hexdigits for c in p) for p in parts)


def cmd_add(env: CniEnv, conf: NetConf, agent: Agent) -> Dict[str, object]:
    """ADD: allocate and wire through the agent, roll back if we cannot answer."""
    key = _key(env, conf)
    request = AddRequest(key=key, netns=env.netns, pod=env.pod, pool=conf.pool, mtu=conf.mtu)
    attachment = _call("ADD", lambda: agent.add(request))
    try:
        verify_attachment(attachment, env)
        return results.shape_add_result(
            attachment, cni_version=conf.cni_version, prev_result=conf.prev_result, dns=conf.dns
        )
    except CniError:
        _rollback(agent, key, env.netns)
        raise


def _rollback(agent: Agent, key: AttachmentKey, netns: str) -> None:
    """Undo an ADD the agent completed but we cannot report (CNI-042)."""
    try:
        agent.delete(DelRequest(key=key, netns=netns))
    except AgentCallError as err:
        log("error", "rollback DEL failed; the runtime's DEL will retry", error=str(err))


def cmd_del(env: CniEnv, conf: NetConf, agent: Agent) -> None:
    """DEL: release by key; needs neither prevResult nor a live netns (CNI-052/053)."""
    request = DelRequest(key=_key(env, conf), netns=env.netns)
    try:
        _call("DEL", lambda: agent.delete(request))
    except CniError as err:
        if err.code != ERR_UNKNOWN_CONTAINER:
            raise
        log("info", "agent does not know the attachment; nothing to delete", msg_agent=err.msg)


def cmd_check(env: CniEnv, conf: NetConf, agent: Agent) -> None:
    """CHECK: the agent verifies what ``prevResult`` claims (CNI-070..073)."""
    if conf.prev_result is None:
        raise CniError(ERR_INVALID_CONFIG, "Required prevResult missing")
    addresses = results.addresses_for(conf.prev_result, ifname=env.ifname, netns=env.netns)
    if not addresses:
        raise CniError(
            ERR_INTERNAL,
            "prevResult holds no address for this attachment",
            f"no ips for interface {env.ifname} in sandbox {env.netns}",
        )
    request = CheckRequest(key=_key(env, conf), netns=env.netns, ips=addresses)
    _call("CHECK", lambda: agent.check(request))


def cmd_status(env: CniEnv, conf: NetConf, agent: Agent) -> None:
    """STATUS: 0 when ADD can be served, else 50 (or the agent's 51) (CNI-080)."""
    try:
        reply = _call("STATUS", agent.status)
    except CniError as err:
        code = ERR_LIMITED_CONNECTIVITY if err.code == ERR_LIMITED_CONNECTIVITY else None
        raise CniError(code or ERR_PLUGIN_NOT_AVAILABLE, err.msg, err.details) from None
    if not reply.ready:
        raise CniError(ERR_PLUGIN_NOT_AVAILABLE, "node agent not ready", reply.reason)


def cmd_gc(env: CniEnv, conf: NetConf, agent: Agent) -> None:
    """GC: release everything of this network outside the valid set (CNI-100..105)."""
    valid = netconf.gc_valid_attachments(conf.raw or {})
    if valid is None:
        log("warning", "GC without cni.dev/valid-attachments: every attachment is stale")
        valid = []
    keys = [AttachmentKey(network=conf.name, container_id=c, ifname=i) for c, i in valid]
    released = _call("GC", lambda: agent.gc(GcRequest(network=conf.name, valid=keys)))
    log("info", "gc done", network=conf.name, released=released)


VERBS: Dict[str, Callable[[CniEnv, NetConf, Agent], Result]] = {
    "ADD": cmd_add,
    "DEL": cmd_del,
    "CHECK": cmd_check,
    "STATUS": cmd_status,
    "GC": cmd_gc,
}
