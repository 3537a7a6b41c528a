"""Structured logs: one JSON object a line on stderr.

Context goes in ``extra``: ``log.info("released", extra={"container_id": c, "pool": p})``.
Every non-standard attribute of the record is copied into the line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, *, node: str = "") -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.node:
            line["node"] = self.node
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup(*, level: str, node: str) -> None:
    """Send the ``flatnet`` loggers to stderr as JSON lines (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node=node))
    root = logging.getLogger("flatnet")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    adapter = logging.getLogger("node_agent")
    adapter.handlers[:] = [handler]
    adapter.setLevel(level.upper())
    adapter.propagate = False
