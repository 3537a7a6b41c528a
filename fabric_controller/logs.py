"""Structured logs of the controller: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time

# Extra attributes a log call may carry (``log.info(..., extra={"rack": "r1"})``).
CONTEXT_KEYS = frozenset({"node", "rack", "tor", "fabric", "peer", "path", "format"})


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, object] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update((k, v) for k, v in vars(record).items() if k in CONTEXT_KEYS)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure(level: str) -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
