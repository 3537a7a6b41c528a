"""What starting ExaBGP takes: its executable, MD5 password files, the config file and the
bridge's command line. Small I/O helpers for the speaker, kept out of its orchestration."""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Sequence
from pathlib import Path

from node_agent.bgp import exabgp_conf
from node_agent.bgp.settings import BgpPeer, BgpSettings
from node_agent.errors import BgpConfigError, ExabgpError

EXABGP_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of ExaBGP's otherwise empty environment."""
BRIDGE = Path(__file__).resolve().with_name("bridge.py")


def read_passwords(peers: Sequence[BgpPeer]) -> dict[Path, str]:
    """Every peer's MD5 password, read from its file (trailing newline dropped)."""
    out = {}
    for peer in peers:
        path = peer.md5_password_file
        if path is None:
            continue
        try:
            out[path] = path.read_text().strip()
        except OSError as exc:
            raise BgpConfigError(f"bgp peer {peer.address}: {path}: {exc}") from exc
    return out


def executable(settings: BgpSettings) -> Path:
    exe = settings.exabgp or Path(sys.executable).with_name("exabgp")
    if not os.access(exe, os.X_OK):
        raise ExabgpError(f"ExaBGP executable {exe} not found")
    return exe


def bridge_argv(settings: BgpSettings, socket_path: Path) -> list[str]:
    """The API process ExaBGP runs: this Python, isolated, running the bridge."""
    return [
        sys.executable,
        "-I",
        str(BRIDGE),
        str(socket_path),
        "--backlog",
        str(settings.bridge_backlog),
        "--retry",
        str(settings.bridge_retry),
        "--exit-grace",
        str(settings.bridge_exit_grace),
    ]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (it may hold MD5 passwords), atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def environment(settings: BgpSettings) -> dict[str, str]:
    """ExaBGP runs as the agent's user, so its bridge may connect to the agent's socket."""
    return exabgp_conf.environment(
        user=pwd.getpwuid(os.geteuid()).pw_name, log_level=settings.log_level, path=EXABGP_PATH
    )
