"""The lab's IPAM service: ``flatnet ipam serve`` on the embedded PostgreSQL, as a process.

Everything lives in ``<lab>/ipam``: the PostgreSQL data directory (``pg``), the tokens
file (an ``admin`` token for the lab and the operator commands, one ``node:<name>``
token per node agent, each in a 0600 file) and the log. The service listens on loopback.

Two processes come out of it, both recorded in the state file: the service itself, and
the PostgreSQL postmaster, which the embedded server leaves running on purpose (several
service processes may share it). ``down`` stops the service, then the postmaster, by the
PID in its own ``postmaster.pid``.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from flatnet.lab.errors import LabDaemonError
from flatnet.lab.procs import Tracked, base_environment, flatnet_command, spawn, tail
from flatnet.lab.settings import LabPool, LabSettings

POLL = 0.2
"""Seconds between readiness checks of the starting service."""
SERVICE = "ipam"
POSTGRES = "postgres"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


class IpamServer:
    """One IPAM service with its embedded PostgreSQL in ``directory``."""

    def __init__(self, *, directory: Path, settings: LabSettings, port: int) -> None:
        self.directory = directory
        self.settings = settings
        self.port = port

    @classmethod
    def create(cls, *, directory: Path, settings: LabSettings) -> IpamServer:
        port = settings.ipam_port or free_port(settings.ipam_host)
        return cls(directory=directory, settings=settings, port=port)

    @property
    def url(self) -> str:
        return f"http://{self.settings.ipam_host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "pg"

    @property
    def admin_token_file(self) -> Path:
        return self.directory / "admin.token"

    @property
    def log(self) -> Path:
        return self.directory / "ipam.log"

    def to_json(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "port": self.port}

    @classmethod
    def from_json(cls, data: dict[str, Any], settings: LabSettings) -> IpamServer:
        return cls(directory=Path(data["directory"]), settings=settings, port=data["port"])

    # -- start ----------------------------------------------------------------------------

    def write_tokens(self, node_token_files: dict[str, Path]) -> None:
        """An admin token, and a ``node:<name>`` token written to each node's file."""
        admin = secrets.token_urlsafe(24)
        write_secret(self.admin_token_file, admin + "\n")
        roles = {admin: "admin"}
        for node, path in node_token_files.items():
            token = secrets.token_urlsafe(24)
            write_secret(path, token + "\n")
            roles[token] = f"node:{node}"
        write_secret(self.directory / "tokens.json", json.dumps(roles, indent=2))

    def postgres(self) -> Tracked:
        return Tracked(
            name=POSTGRES, marker=str(self.data_dir), pidfile=str(self.data_dir / "postmaster.pid")
        )

    def start(self) -> Tracked:
        """Start ``flatnet ipam serve``; returns its record (the caller saves it at once)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # PostgreSQL runs as its own user and must get through
        env = base_environment() | {
            "FLATNET_AUTH": "on",
            "FLATNET_TOKENS_FILE": str(self.directory / "tokens.json"),
        }
        env.pop("FLATNET_DATABASE_URL", None)  # always the lab's own embedded server
        argv = [str(flatnet_command(self.settings)), "ipam", "serve"]
        argv += ["--host", self.settings.ipam_host, "--port", str(self.port)]
        argv += ["--data-dir", str(self.data_dir)]
        proc = spawn(argv, log=self.log, env=env)
        return Tracked(name=SERVICE, marker=str(self.data_dir), pid=proc.pid)

    def wait_ready(self, record: Tracked) -> None:
        deadline = time.monotonic() + self.settings.ipam_start_timeout
        while time.monotonic() < deadline:
            if record.gone():
                raise LabDaemonError(f"the IPAM service exited: {tail(self.log, 15)}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(POLL)
        raise LabDaemonError(f"IPAM was not ready within {self.settings.ipam_start_timeout}s")

    # -- calls as admin ---------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self.admin_token_file.read_text().strip()
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.settings.command_timeout,
            **kwargs,
        )
        if response.status_code >= 300:
            raise LabDaemonError(f"IPAM {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def create_pools(self, pools: list[LabPool]) -> None:
        for pool in pools:
            body = {
                "name": pool.ipam_name,
                "cidrs": [str(pool.cidr)],
                "block_prefixlen": pool.block_prefixlen,
                "description": "flatnet lab" + (" (on demand)" if pool.on_demand else ""),
            }
            self.call("POST", "/v1/pools", json=body)

    def held_blocks(self, node: str | None = None) -> list[dict[str, Any]]:
        params = {"state": "held", "limit": "1000"} | ({"node": node} if node else {})
        items: list[dict[str, Any]] = self.call("GET", "/v1/blocks", params=params)["items"]
        return items
