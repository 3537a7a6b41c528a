"""Every byte the plugin reads or writes: stdin, stdout, stderr, and the JSON codec.

stdout is sacred (CNI-030/031): it carries exactly one JSON document, the result or
the error object, and nothing else. :func:`claim_stdout` hands the real stream to the
entry point and points ``sys.stdout`` at stderr, so a stray ``print`` or a library
warning can never corrupt the result. Logs are JSON lines on stderr (CNI-034).

The codec drives the C accelerator ``_json`` directly instead of importing ``json``:
``json`` pulls in ``re`` and ``enum``, which costs about 8 ms on every invocation
(measured with ``python3 -X importtime``), as much as the interpreter's own start.
The C scanner and encoder are exactly what ``json`` uses; if an interpreter lacks
``_json`` we fall back to ``json``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TextIO

_WHITESPACE = " \t\n\r"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _refuse_type(obj: object) -> Any:
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads (those of ``json.JSONDecoder``)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)


def _build_codec() -> tuple[Callable[[str, int], tuple[Any, int]], Callable[[object], str]]:
    try:
        import _json
    except ImportError:  # pragma: no cover - every CPython build ships _json
        import json

        def scan(text: str, idx: int) -> tuple[Any, int]:
            return json.JSONDecoder().raw_decode(text, idx)

        return scan, lambda obj: json.dumps(obj, separators=(",", ":"), allow_nan=False)
    scanner = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    encoder = _json.make_encoder(
        {}, _refuse_type, _json.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def scan_c(text: str, idx: int) -> tuple[Any, int]:
        try:
            return scanner(text, idx)
        except StopIteration as stop:
            raise ValueError(f"expecting a JSON value at offset {stop.value}") from None
        except SystemError:
            # The C scanner builds its error from ``json.decoder.JSONDecodeError``
            # but only looks it up in ``sys.modules``; until ``json`` is imported it
            # fails without an exception. Errors are the slow path: import ``json``
            # and decode again to raise the precise ``JSONDecodeError``.
            import json

            return json.JSONDecoder().raw_decode(text, idx)

    return scan_c, lambda obj: "".join(encoder(obj, 0))


_scan, _dump = _build_codec()


def loads(text: str) -> Any:
    """Decode one JSON document; raise ``ValueError`` on anything else."""
    idx = len(text) - len(text.lstrip(_WHITESPACE))
    value, end = _scan(text, idx)
    rest = text[end:].lstrip(_WHITESPACE)
    if rest:
        raise ValueError(f"extra data after the JSON document at offset {len(text) - len(rest)}")
    return value


def dumps(obj: object) -> str:
    """Encode compactly and ASCII-only; NaN, infinities and unknown types raise."""
    return _dump(obj)


def read_stdin() -> str:
    """Read all of stdin as UTF-8; a closed stdin reads as empty.

    Raises ``OSError`` on a read failure and ``UnicodeDecodeError`` on bad bytes.
    """
    stream = sys.stdin
    if stream is None:
        return ""
    return stream.buffer.read().decode("utf-8")


def claim_stdout() -> TextIO:
    """Return the real stdout and redirect ``sys.stdout`` to stderr from now on."""
    real = sys.stdout
    sys.stdout = sys.stderr
    return real


def write_json(stream: TextIO, document: object) -> None:
    """Write the one JSON document of this invocation and flush it."""
    stream.write(dumps(document) + "\n")
    stream.flush()


def log(level: str, msg: str, **context: object) -> None:
    """Write one structured log line to stderr; never raises."""
    record: dict[str, object] = {"level": level, "msg": msg, "plugin": "flatnet"}
    record.update(context)
    try:
        sys.stderr.write(dumps(record) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, TypeError, AttributeError):
        pass


def optional_str(value: object) -> Optional[str]:
    """``value`` if it is a non-empty string, else ``None`` (lenient JSON reading)."""
    return value if isinstance(value, str) and value else None
