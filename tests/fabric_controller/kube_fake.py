"""An in-process fake of the Kubernetes API server, for tests. It is the only part of the
system we are allowed to fake, so it speaks the real HTTP protocol (served by uvicorn on a
loopback port) for Nodes, Namespaces and coordination.k8s.io Leases:

- one resourceVersion counter for every write (like etcd's revision); writes that change
  nothing keep the version;
- list answers with the list's resourceVersion; watch (``?watch=1``) streams JSON lines from
  a resourceVersion, replaying retained history first, with BOOKMARK events when
  ``allowWatchBookmarks=true`` and ``timeoutSeconds``;
- a compaction window: a watch from a version older than the retained history gets
  ``410 Gone`` (an ERROR event with code 410, or an HTTP 410 when ``gone_as_status``);
- create (409 AlreadyExists), replace with a resourceVersion precondition (409 Conflict),
  merge / strategic-merge / JSON patch (415 for others), delete, 404 NotFound, 401.

Strategic merge patch is applied as a JSON merge patch (no list merge keys): enough for
labels, annotations and the specs used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import uvicorn

from tests.fabric_controller.kube_fake_patch import PatchError, apply_patch

Object = dict[str, Any]
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("/api/v1", "nodes"): ("Node", False),
    ("/api/v1", "namespaces"): ("Namespace", False),
    ("/apis/coordination.k8s.io/v1", "leases"): ("Lease", True),
}
END = object()


class ApiFailure(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status(code: int, reason: str, message: str) -> Object:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass(frozen=True)
class Target:
    prefix: str
    plural: str
    namespace: str
    name: str
    kind: str

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/api/").removeprefix("/apis/")

    def key(self, name: str | None = None) -> tuple[str, str, str, str]:
        return (self.prefix, self.plural, self.namespace, self.name if name is None else name)

    def matches(self, key: tuple[str, str, str, str]) -> bool:
        same_kind = key[:2] == (self.prefix, self.plural)
        return same_kind and (not self.namespace or key[2] == self.namespace)


def parse_target(path: str) -> Target:
    for prefix, plural in KINDS:
        if not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :].strip("/").split("/")
        namespace = ""
        if KINDS[prefix, plural][1] and len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if rest[0] == plural and len(rest) <= 2 and (namespace or not KINDS[prefix, plural][1]):
            name = rest[1] if len(rest) == 2 else ""
            return Target(prefix, plural, namespace, name, KINDS[prefix, plural][0])
    raise ApiFailure(404, "NotFound", "the server could not find the requested resource")


@dataclass(eq=False)
class Watcher:
    target: Target
    bookmarks: bool
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)


class FakeKube:
    """State and protocol of the fake API server (an ASGI app)."""

    def __init__(
        self, *, window: int = 1000, token: str | None = None, gone_as_status: bool = False
    ) -> None:
        self.rv = 1
        self.window = window
        self.token = token
        self.gone_as_status = gone_as_status
        self.objects: dict[tuple[str, str, str, str], Object] = {}
        self.history: list[tuple[int, str, tuple[str, str, str, str], Object]] = []
        self.compacted = 0
        self.watchers: set[Watcher] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.watch_gate = asyncio.Event()
        """New watch requests wait while this is clear (to open a gap in the event stream)."""
        self.watch_gate.set()
        self.fail_watches: int | None = None
        """Answer every watch request with this HTTP status (a failure Status body)."""

    # -- test helpers (no HTTP) -------------------------------------------------------------
    def count(self, method: str, path: str, *, watch: bool | None = None) -> int:
        return sum(
            1
            for m, p, q in self.requests
            if m == method and p == path and (watch is None or ("watch" in q) == watch)
        )

    def compact(self) -> None:
        """Forget every retained event: watches from any older version get 410."""
        self.history.clear()
        self.compacted = self.rv

    def bookmark(self) -> None:
        """Send a BOOKMARK at the current version to every watch that allows them."""
        for w in self.watchers:
            if w.bookmarks:
                obj: Object = {"kind": w.target.kind, "apiVersion": w.target.api_version}
                obj["metadata"] = {"resourceVersion": str(self.rv)}
                w.queue.put_nowait(("BOOKMARK", obj))

    def end_watches(self) -> None:
        """End every open watch cleanly, as the server does at ``timeoutSeconds``."""
        for w in self.watchers:
            w.queue.put_nowait(END)

    # -- state changes ------------------------------------------------------------------------
    def _record(self, kind: str, key: tuple[str, str, str, str], obj: Object) -> None:
        self.history.append((self.rv, kind, key, copy.deepcopy(obj)))
        if len(self.history) > self.window:
            dropped = self.history.pop(0)
            self.compacted = dropped[0]
        for w in self.watchers:
            if w.target.matches(key):
                w.queue.put_nowait((kind, copy.deepcopy(obj)))

    def _create(self, target: Target, obj: Object) -> Object:
        name = (obj.get("metadata") or {}).get("name") or ""
        if not name:
            raise ApiFailure(422, "Invalid", "metadata.name: Required value: name is required")
        key = target.key(name)
        if key in self.objects:
            raise ApiFailure(409, "AlreadyExists", f'{target.plural} "{name}" already exists')
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored.update(kind=target.kind, apiVersion=target.api_version)
        meta = stored.setdefault("metadata", {})
        meta.update(resourceVersion=str(self.rv), uid=str(uuid.uuid4()))
        meta["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if target.namespace:
            meta["namespace"] = target.namespace
        self.objects[key] = stored
        self._record("ADDED", key, stored)
        return stored

    def _replace(self, target: Target, obj: Object) -> Object:
        current = self._current(target)
        meta = obj.get("metadata") or {}
        if meta.get("name", target.name) != target.name:
            raise ApiFailure(400, "BadRequest", "the name of the object does not match the URL")
        wanted = meta.get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiFailure(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {target.plural} "{target.name}": the object '
                "has been modified; please apply your changes to the latest version and try again",
            )
        new = copy.deepcopy(obj)
        new.update(kind=target.kind, apiVersion=target.api_version)
        old_meta = current["metadata"]
        keep = {k: old_meta[k] for k in ("uid", "creationTimestamp", "namespace") if k in old_meta}
        new_meta = new.setdefault("metadata", {})
        new_meta.update(
            keep, name=target.name, resourceVersion=current["metadata"]["resourceVersion"]
        )
        if new == current:
            return current
        self.rv += 1
        new_meta["resourceVersion"] = str(self.rv)
        self.objects[target.key()] = new
        self._record("MODIFIED", target.key(), new)
        return new

    def _current(self, target: Target) -> Object:
        found = self.objects.get(target.key())
        if found is None:
            raise ApiFailure(404, "NotFound", f'{target.plural} "{target.name}" not found')
        return found

    def _delete(self, target: Target) -> Object:
        current = self.objects.pop(target.key(), None)
        if current is None:
            raise ApiFailure(404, "NotFound", f'{target.plural} "{target.name}" not found')
        self.rv += 1
        current["metadata"]["resourceVersion"] = str(self.rv)
        self._record("DELETED", target.key(), current)
        return status(200, "", "") | {"details": {"name": target.name, "kind": target.plural}}

    def _patch(self, target: Target, content_type: str, body: bytes) -> Object:
        current = self._current(target)
        try:
            patched = apply_patch(current, content_type, json.loads(body))
        except PatchError as exc:
            raise ApiFailure(exc.code, exc.reason, str(exc)) from exc
        except ValueError as exc:
            raise ApiFailure(400, "BadRequest", f"invalid JSON: {exc}") from exc
        return self._replace(target, patched)

    def _list(self, target: Target) -> Object:
        items = []
        for key, obj in sorted(self.objects.items()):
            if target.matches(key):
                item = copy.deepcopy(obj)
                item.pop("kind"), item.pop("apiVersion")
                items.append(item)
        meta = {"resourceVersion": str(self.rv)}
        return {"kind": f"{target.kind}List", "apiVersion": "v1", "metadata": meta, "items": items}

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        method, path = scope["method"], scope["path"]
        self.requests.append((method, path, query))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            if self.token and headers.get("authorization") != f"Bearer {self.token}":
                raise ApiFailure(401, "Unauthorized", "Unauthorized")
            target = parse_target(path)
            if method == "GET" and not target.name and query.get("watch") in ("1", "true"):
                await self._watch(target, query, receive, send)
                return
            body = await read_body(receive)
            answer = self._dispatch(method, target, headers.get("content-type", ""), body)
            code = 201 if method == "POST" else 200
        except ApiFailure as exc:
            code, answer = exc.code, status(exc.code, exc.reason, exc.message)
        await respond(send, code, answer)

    def _dispatch(self, method: str, target: Target, content_type: str, body: bytes) -> Object:
        if method == "GET":
            return self._current(target) if target.name else self._list(target)
        if method == "POST" and not target.name:
            return self._create(target, json.loads(body))
        if method == "PUT" and target.name:
            return self._replace(target, json.loads(body))
        if method == "PATCH" and target.name:
            return self._patch(target, content_type.split(";")[0].strip(), body)
        if method == "DELETE" and target.name:
            return self._delete(target)
        raise ApiFailure(405, "MethodNotAllowed", f"{method} is not supported on {target.plural}")

    async def _watch(
        self, target: Target, query: dict[str, str], receive: Receive, send: Send
    ) -> None:
        await self.watch_gate.wait()
        if self.fail_watches is not None:
            code = self.fail_watches
            await respond(send, code, status(code, "InternalError", "injected watch failure"))
            return
        since = query.get("resourceVersion", "")
        if since not in ("", "0") and int(since) < self.compacted:
            failure = status(
                410, "Expired", f"too old resource version: {since} ({self.compacted})"
            )
            if self.gone_as_status:
                await respond(send, 410, failure)
                return
            await start_stream(send)
            await send_line(send, {"type": "ERROR", "object": failure})
            await send({"type": "http.response.body", "body": b""})
            return
        watcher = Watcher(target, query.get("allowWatchBookmarks") == "true")
        backlog = self._backlog(target, since)
        self.watchers.add(watcher)
        disconnect = asyncio.create_task(wait_disconnect(receive, watcher.queue))
        try:
            await start_stream(send)
            for kind, obj in backlog:
                await send_line(send, {"type": kind, "object": obj})
            await self._pump(watcher, send, float(query.get("timeoutSeconds", "1800")))
        finally:
            self.watchers.discard(watcher)
            disconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await disconnect
        await send({"type": "http.response.body", "body": b""})

    def _backlog(self, target: Target, since: str) -> list[tuple[str, Object]]:
        if since in ("", "0"):
            return [
                ("ADDED", copy.deepcopy(o))
                for k, o in sorted(self.objects.items())
                if target.matches(k)
            ]
        return [
            (kind, copy.deepcopy(o))
            for rv, kind, k, o in self.history
            if rv > int(since) and target.matches(k)
        ]

    async def _pump(self, watcher: Watcher, send: Send, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        for _ in range(10_000_000):
            try:
                item = await asyncio.wait_for(watcher.queue.get(), deadline - loop.time())
            except TimeoutError:
                return
            if item is END:
                return
            kind, obj = cast(tuple[str, Object], item)
            await send_line(send, {"type": kind, "object": obj})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    for _ in range(1_000_000):
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def wait_disconnect(receive: Receive, queue: asyncio.Queue[object]) -> None:
    for _ in range(1_000_000):
        if (await receive())["type"] == "http.disconnect":
            queue.put_nowait(END)
            return


async def respond(send: Send, code: int, body: Object) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def start_stream(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def send_line(send: Send, event: Object) -> None:
    data = json.dumps(event).encode() + b"\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield  # leave pytest's signal handlers alone


@contextlib.asynccontextmanager
async def serve(fake: FakeKube) -> AsyncIterator[str]:
    """Serve ``fake`` on a loopback port; yield its base URL; stop it (and its watches)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "fake API server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        fake.watch_gate.set()
        fake.end_watches()
        server.should_exit = True
        await task
        sock.close()
