"""Reading the fabric's TCP MD5 secret for a ToR config. The only code that opens it.

The API never returns the secret: fabrics show where it lives (a file path or a secret
name), and only roles allowed to read secrets get it inside a rendered ToR config;
everyone else gets :data:`REDACTED` in its place, which still parses.
"""

from __future__ import annotations

import re
from pathlib import Path

from fabric_controller.errors import SecretError
from fabric_controller.models import Fabric

REDACTED = "flatnet-md5-redacted"
# TCP MD5 keys are at most 80 bytes (RFC 2385 implementations, Linux TCP_MD5SIG_MAXKEYLEN).
# Both daemons take the key as one bare word (FRR) or a string without escapes (BIRD),
# so spaces, quotes, backslashes and comment characters are refused.
_KEY = re.compile(r"[A-Za-z0-9$%&'()*+,./:;<=>?@\[\]^_`{|}~-]{1,80}")


def md5_path(fabric: Fabric, *, secrets_dir: Path) -> Path | None:
    """Where the fabric's MD5 secret lives (a secret name resolves in ``secrets_dir``)."""
    if fabric.md5_password_file is not None:
        return Path(fabric.md5_password_file)
    if fabric.md5_secret_ref is not None:
        return secrets_dir / fabric.md5_secret_ref
    return None


def read_md5(path: Path) -> str:
    """The password in ``path`` (surrounding whitespace stripped), checked to be renderable."""
    try:
        key = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read the MD5 secret {path}: {exc}", field="bgp") from exc
    if not _KEY.fullmatch(key):
        raise SecretError(
            f"the MD5 secret in {path} must be 1-80 printable ASCII characters without"
            " spaces, quotes, backslashes, '!' or '#'",
            field="bgp",
        )
    return key


def md5_for_config(path: Path | None, *, reveal: bool) -> str | None:
    """What a rendered config holds for the secret in ``path``: the secret itself for roles
    that may read it, :data:`REDACTED` for the others, None when there is no secret."""
    if path is None:
        return None
    return read_md5(path) if reveal else REDACTED
