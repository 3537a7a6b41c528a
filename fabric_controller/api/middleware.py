"""Plain ASGI middleware (no per-request task, unlike ``@app.middleware``): refuses bodies
declared larger than the limit, and times every request by its route template."""

from __future__ import annotations

import time

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fabric_controller.api import problems
from fabric_controller.errors import PayloadTooLarge
from fabric_controller.metrics import Metrics


class Instrument:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, body_limit: int) -> None:
        self.app = app
        self.metrics = metrics
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.body_limit:
            error = PayloadTooLarge(f"the body exceeds {self.body_limit} bytes", field="body")
            response = problems.render(Request(scope), error)
            await response(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
