"""Human-readable tables for operator commands (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


def render(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    body = [[cell(row.get(c)) for c in columns] for row in rows]
    header = [c.upper() for c in columns]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *body]
    ]
    return "\n".join(lines)


def output(data: Any, *, fmt: str, columns: Sequence[str]) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2)
    rows = data if isinstance(data, list) else [data]
    return render(rows, columns)
