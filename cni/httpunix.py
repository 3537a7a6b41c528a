"""A minimal HTTP/1.1 client over a unix socket, with one overall deadline.

``http.client`` would pull in ``email`` and friends (tens of milliseconds of
imports) for one request per process. The plugin sends exactly one request per
connection with ``Connection: close`` and reads one response, framed by
``Content-Length``, by chunked encoding, or by the server closing. Every socket
operation is bounded by what is left of the deadline, and the response size is
capped, so the plugin never hangs and never reads without end (CNI-046).
"""

from __future__ import annotations

# The C module: ``socket`` would add ``enum`` and ``selectors`` (~4 ms a call).
import _socket as socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

MAX_RESPONSE = 1 << 20
"""Bytes we accept from the agent; contract replies are a few hundred."""


class TransportError(Exception):
    """Base of the transport failures."""


class Unreachable(TransportError):
    """Nobody listens on the socket, or the connection broke before a reply."""


class DeadlineExceeded(TransportError):
    """No complete response before the deadline."""


class MalformedResponse(TransportError):
    """The bytes received are not an HTTP/1.1 response."""


def request(
    *, socket_path: str, method: str, path: str, body: Optional[bytes], timeout: float
) -> Tuple[int, bytes]:
    """Send one request, return ``(status, body)``; raise ``TransportError``."""
    deadline = time.monotonic() + timeout
    head = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    message = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + (body or b"")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except socket.timeout:
            raise DeadlineExceeded(
                f"connect to {socket_path} timed out after {timeout:g}s"
            ) from None
        except OSError as err:
            raise Unreachable(f"connect to {socket_path}: {err.strerror or err}") from None
        try:
            sock.sendall(message)
            return _read_response(sock, deadline)
        except socket.timeout:
            raise DeadlineExceeded(f"no reply from {socket_path} within {timeout:g}s") from None
        except OSError as err:
            raise Unreachable(f"{socket_path}: {err.strerror or err}") from None
    finally:
        sock.close()


def _read_response(sock: socket.socket, deadline: float) -> Tuple[int, bytes]:
    buffer = b""
    while len(buffer) <= MAX_RESPONSE:
        framed = _try_parse(buffer, complete=False)
        if framed is not None:
            return framed
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            framed = _try_parse(buffer, complete=True)
            if framed is None:
                raise Unreachable("connection closed before a complete response")
            return framed
        buffer += chunk
    raise MalformedResponse(f"response larger than {MAX_RESPONSE} bytes")


def _try_parse(buffer: bytes, *, complete: bool) -> Optional[Tuple[int, bytes]]:
    """``(status, body)`` once ``buffer`` holds a whole response, else ``None``."""
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    status, headers = _parse_head(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return _dechunk(rest, status)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise MalformedResponse(f"bad Content-Length {length!r}")
        wanted = int(length)
        return (status, rest[:wanted]) if len(rest) >= wanted else None
    return (status, rest) if complete else None


def _parse_head(head: bytes) -> Tuple[int, Dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise MalformedResponse(f"bad status line {lines[0][:80]!r}")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _dechunk(data: bytes, status: int) -> Optional[Tuple[int, bytes]]:
    body = b""
    for _ in range(len(data) // 3 + 1):  # every chunk, even an empty one, takes 3+ bytes
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            return None
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise MalformedResponse(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            return status, body
        if len(data) < size + 2:
            return None
        body, data = body + data[:size], data[size + 2 :]
    return None
