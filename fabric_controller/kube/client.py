"""The Kubernetes API adapter: the only module that talks to the API server.

It speaks the REST protocol with httpx: list (with the list's resourceVersion), watch
(JSON lines, ``watch=1&resourceVersion=...&allowWatchBookmarks=true``), get, create, replace
(with the object's ``resourceVersion`` as precondition), merge / strategic-merge / JSON patch
and delete. Failure ``Status`` bodies become ``KubeApiError`` subclasses (404, 409, 410) and
transport failures ``KubeUnavailableError``; nothing else of httpx leaks out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, Literal, Protocol

import httpx

from fabric_controller.kube.errors import KubeApiError, KubeUnavailableError
from fabric_controller.kube.objects import EventType, Object, ObjectList, Resource, WatchEvent

log = logging.getLogger("flatnet.controller.kube")

PatchStrategy = Literal["merge", "strategic", "json"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class KubeApi(Protocol):
    """What the controller needs of the API server. Errors: see ``kube.errors``."""

    async def list(self, resource: Resource, *, namespace: str | None = None) -> ObjectList: ...

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        timeout_seconds: int,
        namespace: str | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Events after ``resource_version``, BOOKMARKs included; ends when the server ends
        the watch. Raises ``WatchExpiredError`` when that version has been compacted."""
        ...

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> Object: ...

    async def create(
        self, resource: Resource, obj: Object, *, namespace: str | None = None
    ) -> Object: ...

    async def replace(
        self, resource: Resource, name: str, obj: Object, *, namespace: str | None = None
    ) -> Object:
        """PUT; a ``metadata.resourceVersion`` in ``obj`` that is not current is a 409."""
        ...

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        strategy: PatchStrategy = "merge",
    ) -> Object: ...

    async def delete(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> None: ...


class TokenAuth(httpx.Auth):
    """Bearer token from a callable, asked on every request (service-account tokens rotate)."""

    def __init__(self, token: Callable[[], str | None]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class HttpKubeApi:
    """``KubeApi`` over HTTP. Build it with ``kube.credentials.connect(settings)``; tests hand
    it an ``httpx.AsyncClient`` of their own."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        request_timeout: float,
        watch_read_slack: float,
    ) -> None:
        self.http = http
        self.request_timeout = request_timeout
        self.watch_read_slack = watch_read_slack

    async def aclose(self) -> None:
        await self.http.aclose()

    async def list(self, resource: Resource, *, namespace: str | None = None) -> ObjectList:
        body = await self._call("GET", resource.collection(namespace))
        items = [item for item in body.get("items") or [] if isinstance(item, dict)]
        for item in items:
            # list items carry no kind/apiVersion on the wire; handlers like them complete
            item.setdefault("kind", resource.kind)
            item.setdefault("apiVersion", resource.api_version)
        version = str((body.get("metadata") or {}).get("resourceVersion", ""))
        return ObjectList(items=items, resource_version=version)

    async def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        timeout_seconds: int,
        namespace: str | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = httpx.Timeout(self.request_timeout, read=timeout_seconds + self.watch_read_slack)
        url = resource.collection(namespace)
        try:
            async with self.http.stream("GET", url, params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _api_error(response)
                async for line in response.aiter_lines():
                    event = _parse_event(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise KubeUnavailableError(f"watch {url}: {exc!r}") from exc

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> Object:
        return await self._call("GET", resource.item(name, namespace))

    async def create(
        self, resource: Resource, obj: Object, *, namespace: str | None = None
    ) -> Object:
        return await self._call("POST", resource.collection(namespace), json=obj)

    async def replace(
        self, resource: Resource, name: str, obj: Object, *, namespace: str | None = None
    ) -> Object:
        return await self._call("PUT", resource.item(name, namespace), json=obj)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        strategy: PatchStrategy = "merge",
    ) -> Object:
        headers = {"Content-Type": PATCH_CONTENT_TYPES[strategy]}
        content = json.dumps(patch).encode()
        return await self._call(
            "PATCH", resource.item(name, namespace), content=content, headers=headers
        )

    async def delete(self, resource: Resource, name: str, *, namespace: str | None = None) -> None:
        await self._call("DELETE", resource.item(name, namespace))

    async def _call(self, method: str, url: str, **kwargs: Any) -> Object:
        try:
            response = await self.http.request(method, url, timeout=self.request_timeout, **kwargs)
        except httpx.TransportError as exc:
            raise KubeUnavailableError(f"{method} {url}: {exc!r}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise KubeUnavailableError(f"{method} {url}: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise KubeUnavailableError(f"{method} {url}: the answer is not an object")
        return body


def _api_error(response: httpx.Response) -> KubeApiError:
    try:
        status = response.json()
    except ValueError:
        status = None
    if not isinstance(status, dict):
        status = {"reason": response.reason_phrase, "message": response.text[:200]}
    return KubeApiError.from_status(response.status_code, status)


def _parse_event(line: str) -> WatchEvent | None:
    """One JSON line of a watch stream; an ERROR event is raised as its ``KubeApiError``."""
    if not line.strip():
        return None
    try:
        raw = json.loads(line)
        kind = EventType(raw["type"])
        obj = raw["object"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KubeUnavailableError(f"garbled watch event: {line[:200]!r}") from exc
    if not isinstance(obj, dict):
        raise KubeUnavailableError(f"watch event without an object: {line[:200]!r}")
    if kind is EventType.ERROR:
        raise KubeApiError.from_status(int(obj.get("code") or 500), obj)
    return WatchEvent(type=kind, object=obj)
