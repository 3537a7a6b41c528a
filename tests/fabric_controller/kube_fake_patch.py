"""Patch semantics of the fake API server: JSON merge patch (RFC 7386), strategic merge patch
(applied as a merge patch) and JSON patch (RFC 6902: add, remove, replace, test)."""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class PatchError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def apply_patch(current: dict[str, Any], content_type: str, patch: Any) -> dict[str, Any]:
    if content_type in (MERGE, STRATEGIC):
        if not isinstance(patch, dict):
            raise PatchError(400, "BadRequest", "a merge patch must be a JSON object")
        result = merge(current, patch)
        assert isinstance(result, dict)
        return result
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError(400, "BadRequest", "a JSON patch must be a list of operations")
        doc = copy.deepcopy(current)
        for op in patch:
            doc = json_patch_op(doc, op)
        return doc
    raise PatchError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "Invalid", f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or "op" not in op or "path" not in op:
        raise PatchError(422, "Invalid", f"bad JSON patch operation {op!r}")
    parts = pointer(op["path"])
    if not parts:
        raise PatchError(422, "Invalid", "patching the whole document is not supported")
    parent = doc
    for part in parts[:-1]:
        parent = child(parent, part)
    last, kind = parts[-1], op["op"]
    if kind == "test":
        if child(parent, last) != op.get("value"):
            raise PatchError(422, "Invalid", f"test failed at {op['path']}")
    elif kind == "remove":
        remove(parent, last)
    elif kind in ("add", "replace"):
        if kind == "replace":
            child(parent, last)
        put(parent, last, copy.deepcopy(op.get("value")), insert=kind == "add")
    else:
        raise PatchError(422, "Invalid", f"unsupported JSON patch op {kind!r}")
    return doc


def child(node: Any, part: str) -> Any:
    try:
        if isinstance(node, list):
            return node[int(part)]
        return node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(422, "Invalid", f"path element {part!r} does not exist") from None


def remove(node: Any, part: str) -> None:
    child(node, part)
    if isinstance(node, list):
        del node[int(part)]
    else:
        del node[part]


def put(node: Any, part: str, value: Any, *, insert: bool) -> None:
    if isinstance(node, list):
        index = len(node) if part == "-" else int(part)
        if insert:
            node.insert(index, value)
        else:
            node[index] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise PatchError(422, "Invalid", f"cannot add {part!r} to a scalar")
