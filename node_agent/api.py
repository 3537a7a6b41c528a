"""The local API on the unix socket: :mod:`cni.contract` on the wire, plus status and metrics.

Routes::

    POST /v1/cni/add     AddRequest   -> Attachment
    POST /v1/cni/del     DelRequest   -> {}
    POST /v1/cni/check   CheckRequest -> {}
    POST /v1/cni/gc      GcRequest    -> {"released": [...]}
    GET  /v1/cni/status               -> StatusReply
    GET  /v1/status                   -> the agent's full status (flatnet agent status)
    POST /v1/drain                    -> withdraw every announcement, keep them withdrawn
    POST /v1/undrain                  -> announce the node's blocks again
    POST /v1/reconcile                -> run a reconcile pass now, return its report
    GET  /metrics                     -> Prometheus text
    GET  /healthz                     -> {"ok": true}

Every failure leaves through :func:`error_response`, the one place that maps an
``AgentError`` to its HTTP status and to the contract's ``AgentError`` body with
the CNI code (``cni_code``). The request bodies are decoded strictly here:
a wrong type or a missing field is a ``RequestError`` naming the field.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from cni.contract import (
    AddRequest,
    AttachmentKey,
    CheckRequest,
    DelRequest,
    GcRequest,
    PodRef,
)
from cni.contract import AgentError as WireError
from cni.contract import asdict as to_wire
from node_agent.daemon import Agent
from node_agent.errors import AgentError, RequestError
from node_agent.httpserver import Request, Response

log = logging.getLogger("flatnet.agent.api")

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
Route = Callable[[Request], Awaitable[Response]]


def _json(status: int, document: object) -> Response:
    return Response(status, json.dumps(document, separators=(",", ":")).encode())


def error_response(exc: AgentError) -> Response:
    """The one mapping of agent errors to the wire (HTTP status + CNI code)."""
    wire = WireError(
        code=exc.cni_code, msg=str(exc) or type(exc).__name__, details=type(exc).__name__
    )
    return _json(exc.http_status, to_wire(wire))


# -- decoding ------------------------------------------------------------------------


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RequestError(f"{where} must be a JSON object")
    return data


def _string(data: dict[str, Any], name: str, *, where: str, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise RequestError(f"{where}.{name} must be a non-empty string, got {value!r}")
    return value


def _key(data: Any, where: str) -> AttachmentKey:
    obj = _object(data, where)
    return AttachmentKey(
        network=_string(obj, "network", where=where),
        container_id=_string(obj, "container_id", where=where),
        ifname=_string(obj, "ifname", where=where),
    )


def _body(request: Request) -> dict[str, Any]:
    try:
        return _object(json.loads(request.body or b"{}"), "body")
    except ValueError as exc:
        raise RequestError(f"body is not JSON: {exc}") from None


def decode_add(data: dict[str, Any]) -> AddRequest:
    pod = _object(data.get("pod") or {}, "pod")
    pool, mtu = data.get("pool"), data.get("mtu")
    if pool is not None and (not isinstance(pool, str) or not pool):
        raise RequestError(f"pool must be a non-empty string or null, got {pool!r}")
    if mtu is not None and (
        isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= 65535
    ):
        raise RequestError(f"mtu must be an integer in [68, 65535] or null, got {mtu!r}")
    return AddRequest(
        key=_key(data.get("key"), "key"),
        netns=_string(data, "netns", where="body"),
        pod=PodRef(
            namespace=_string(pod, "namespace", where="pod", required=False),
            name=_string(pod, "name", where="pod", required=False),
            uid=_string(pod, "uid", where="pod", required=False),
        ),
        pool=pool,
        mtu=mtu,
    )


def decode_del(data: dict[str, Any]) -> DelRequest:
    return DelRequest(
        key=_key(data.get("key"), "key"), netns=_string(data, "netns", where="body", required=False)
    )


def decode_check(data: dict[str, Any]) -> CheckRequest:
    ips = data.get("ips") or []
    if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
        raise RequestError("ips must be a list of strings")
    return CheckRequest(
        key=_key(data.get("key"), "key"), netns=_string(data, "netns", where="body"), ips=ips
    )


def decode_gc(data: dict[str, Any]) -> GcRequest:
    valid = data.get("valid") or []
    if not isinstance(valid, list):
        raise RequestError("valid must be a list of attachment keys")
    return GcRequest(
        network=_string(data, "network", where="body"),
        valid=[_key(v, f"valid[{i}]") for i, v in enumerate(valid)],
    )


# -- routing -------------------------------------------------------------------------


class LocalApi:
    """The request handler given to :class:`node_agent.httpserver.HttpServer`."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/v1/cni/add"): self._add,
            ("POST", "/v1/cni/del"): self._del,
            ("POST", "/v1/cni/check"): self._check,
            ("POST", "/v1/cni/gc"): self._gc,
            ("GET", "/v1/cni/status"): self._cni_status,
            ("GET", "/v1/status"): self._status,
            ("POST", "/v1/drain"): self._drain,
            ("POST", "/v1/undrain"): self._undrain,
            ("POST", "/v1/reconcile"): self._reconcile,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/healthz"): self._healthz,
        }

    async def __call__(self, request: Request) -> Response:
        route = self.routes.get((request.method, request.path))
        if route is None:
            known = {path for _, path in self.routes}
            status = 405 if request.path in known else 404
            return _json(status, {"code": 4, "msg": f"no route {request.method} {request.path}"})
        verb = request.path.rsplit("/", 1)[-1] if request.path.startswith("/v1/cni/") else ""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await route(request)
        except AgentError as exc:
            outcome = "error"
            if not isinstance(exc, RequestError):
                log.warning("request failed", extra={"path": request.path, "error": str(exc)})
            return error_response(exc)
        finally:
            if verb:
                elapsed = time.perf_counter() - started
                self.agent.p.metrics.cni_seconds.labels(verb, outcome).observe(elapsed)

    async def _add(self, request: Request) -> Response:
        reply = await self.agent.service.add(decode_add(_body(request)))
        return _json(200, to_wire(reply))

    async def _del(self, request: Request) -> Response:
        await self.agent.service.delete(decode_del(_body(request)))
        return _json(200, {})

    async def _check(self, request: Request) -> Response:
        await self.agent.service.check(decode_check(_body(request)))
        return _json(200, {})

    async def _gc(self, request: Request) -> Response:
        released = await self.agent.service.gc(decode_gc(_body(request)))
        return _json(200, {"released": released})

    async def _cni_status(self, request: Request) -> Response:
        return _json(200, to_wire(await self.agent.service.status()))

    async def _status(self, request: Request) -> Response:
        return _json(200, await self.agent.status_document())

    async def _drain(self, request: Request) -> Response:
        await self.agent.drain()
        return _json(200, {"drained": True})

    async def _undrain(self, request: Request) -> Response:
        await self.agent.undrain()
        return _json(200, {"drained": False})

    async def _reconcile(self, request: Request) -> Response:
        report = await self.agent.reconciler.once()
        return _json(200, asdict(report))

    async def _metrics(self, request: Request) -> Response:
        return Response(200, self.agent.p.metrics.render(), content_type=PROMETHEUS_TEXT)

    async def _healthz(self, request: Request) -> Response:
        return _json(200, {"ok": True})


class MetricsApi:
    """What the TCP metrics listener serves: ``/metrics`` and ``/healthz`` only."""

    def __init__(self, api: LocalApi) -> None:
        self.api = api

    async def __call__(self, request: Request) -> Response:
        if (request.method, request.path) in {("GET", "/metrics"), ("GET", "/healthz")}:
            return await self.api(request)
        return _json(404, {"msg": "only /metrics and /healthz here"})
