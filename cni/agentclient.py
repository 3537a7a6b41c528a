"""The node agent's client: the endpoints of :mod:`cni.contract`, typed.

Transport failures become :class:`AgentUnreachable` or :class:`AgentTimeout`, a
non-2xx answer becomes :class:`AgentRefused` carrying the agent's CNI error, and a
reply that breaks the contract becomes :class:`AgentProtocolError` (tree in
:mod:`cni.errors`). Which CNI code each of those means depends on the verb and is
decided in :mod:`cni.verbs`.
"""

from __future__ import annotations

from cni import httpunix, streams
from cni.contract import (
    ERR_INTERNAL,
    ERR_TRY_AGAIN_LATER,
    AddRequest,
    AgentError,
    Attachment,
    CheckRequest,
    DelRequest,
    GcRequest,
    IPConfig,
    Route,
    StatusReply,
    asdict,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Union

    Request = Union[AddRequest, DelRequest, CheckRequest, GcRequest]


class AgentCallError(Exception):
    """Base of the agent call failures."""


class AgentUnreachable(AgentCallError):
    pass


class AgentTimeout(AgentCallError):
    pass


class AgentProtocolError(AgentCallError):
    pass


class AgentRefused(AgentCallError):
    def __init__(self, status: int, error: AgentError) -> None:
        super().__init__(f"agent answered HTTP {status}: code {error.code}: {error.msg}")
        self.status = status
        self.error = error


def _str(data: Dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise AgentProtocolError(f"attachment field {key!r} must be a string, got {value!r}")
    return value


def attachment_from_wire(data: object) -> Attachment:
    """Decode an ``Attachment`` reply, checking every field's type."""
    if not isinstance(data, dict):
        raise AgentProtocolError("attachment reply is not a JSON object")
    mtu = data.get("mtu")
    ips, routes = data.get("ips") or [], data.get("routes") or []
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        raise AgentProtocolError(f"attachment field 'mtu' must be an integer, got {mtu!r}")
    if not isinstance(ips, list) or not all(isinstance(i, dict) for i in ips):
        raise AgentProtocolError("attachment field 'ips' must be a list of objects")
    if not isinstance(routes, list) or not all(isinstance(r, dict) for r in routes):
        raise AgentProtocolError("attachment field 'routes' must be a list of objects")
    return Attachment(
        host_ifname=_str(data, "host_ifname"),
        host_mac=_str(data, "host_mac"),
        ifname=_str(data, "ifname"),
        mac=_str(data, "mac"),
        sandbox=_str(data, "sandbox"),
        mtu=mtu,
        ips=[IPConfig(address=_str(i, "address"), gateway=_str(i, "gateway")) for i in ips],
        routes=[Route(dst=_str(r, "dst"), gw=streams.optional_str(r.get("gw"))) for r in routes],
    )


def agent_error_from_wire(status: int, body: bytes) -> AgentError:
    """The contract ``AgentError`` of a non-2xx reply, or a synthesized one."""
    try:
        data = streams.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("code"), int):
        details = data.get("details")
        return AgentError(
            code=data["code"],
            msg=str(data.get("msg") or f"agent error (HTTP {status})"),
            details=details if isinstance(details, str) else "",
        )
    code = ERR_TRY_AGAIN_LATER if status == 503 else ERR_INTERNAL
    text = body[:200].decode("utf-8", "replace")
    return AgentError(code=code, msg=f"node agent answered HTTP {status}", details=text)


class AgentClient:
    """One agent call per method; ``timeout`` bounds each call end to end."""

    def __init__(self, *, socket_path: str, timeout: float) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Union[Request, None] = None) -> object:
        body = None if payload is None else streams.dumps(asdict(payload)).encode("ascii")
        try:
            status, reply = httpunix.request(
                socket_path=self.socket_path,
                method=method,
                path=path,
                body=body,
                timeout=self.timeout,
            )
        except httpunix.Unreachable as err:
            raise AgentUnreachable(str(err)) from None
        except httpunix.DeadlineExceeded as err:
            raise AgentTimeout(str(err)) from None
        except httpunix.MalformedResponse as err:
            raise AgentProtocolError(str(err)) from None
        if not 200 <= status < 300:
            raise AgentRefused(status, agent_error_from_wire(status, reply))
        try:
            return streams.loads(reply.decode("utf-8") or "{}")
        except (ValueError, RecursionError) as err:
            raise AgentProtocolError(f"{path}: reply is not JSON: {err}") from None

    def add(self, request: AddRequest) -> Attachment:
        return attachment_from_wire(self._call("POST", "/v1/cni/add", request))

    def delete(self, request: DelRequest) -> None:
        self._call("POST", "/v1/cni/del", request)

    def check(self, request: CheckRequest) -> None:
        self._call("POST", "/v1/cni/check", request)

    def gc(self, request: GcRequest) -> List[str]:
        reply = self._call("POST", "/v1/cni/gc", request)
        released = reply.get("released") if isinstance(reply, dict) else None
        return [str(item) for item in released] if isinstance(released, list) else []

    def status(self) -> StatusReply:
        reply = self._call("GET", "/v1/cni/status")
        if not isinstance(reply, dict) or not isinstance(reply.get("ready"), bool):
            raise AgentProtocolError("status reply lacks a boolean 'ready'")
        reason = reply.get("reason")
        return StatusReply(ready=reply["ready"], reason=reason if isinstance(reason, str) else "")
