"""ToR daemons in a namespace: BIRD 2 or FRR 8.4 (bgpd + zebra), started and stopped by PID.

Each ToR keeps its config, control sockets, pid files and log in its own directory.
The daemons run in the foreground as children of whoever started them (the lab
records their PIDs in its state file), are recognised by a command line naming that
directory, and are ended by PID only. Their control sockets are filesystem paths, so
``birdc`` and ``vtysh`` query them from the host namespace.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import time
from collections.abc import Callable, Collection
from pathlib import Path

from flatnet.lab.errors import LabCommandError, LabDaemonError
from flatnet.lab.procs import spawn, tail
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import alive, end_process, ip, run

POLL = 0.05
"""Seconds between readiness checks of a starting daemon."""
KERNEL_PROTOS = {"bird": "bird", "frr": "bgp"}
"""``rtm_protocol`` name each daemon installs its routes with."""


def kernel_routes(netns: str, *, proto: str, timeout: float) -> dict[str, set[str]]:
    """Routes of ``proto`` in the netns's main table: prefix -> next-hop addresses."""
    out: dict[str, set[str]] = {}
    for family in ("-4", "-6"):
        text = ip("-j", "-n", netns, family, "route", "show", "proto", proto, timeout=timeout)
        for route in json.loads(text or "[]"):
            hops = {h["gateway"] for h in route.get("nexthops", []) if "gateway" in h}
            if "gateway" in route:
                hops.add(route["gateway"])
            out[route["dst"]] = hops
    return out


def _running(proc: subprocess.Popen[bytes] | None, pid: int | None, marker: str) -> bool:
    """Our own child: not exited yet. A daemon found through the state file: by PID."""
    if proc is not None:
        return proc.poll() is None
    return pid is not None and alive(pid, marker=marker)


def _end(proc: subprocess.Popen[bytes] | None, pid: int, *, marker: str, grace: float) -> None:
    end_process(pid, marker=marker, grace=grace)
    if proc is not None:
        if proc.poll() is None:  # not exec'd yet when the marker was checked
            proc.kill()
        proc.wait()


def _neighbor(lines: list[str]) -> str | None:
    """The ``Neighbor address:`` of one protocol's ``show protocols all`` lines."""
    for line in lines:
        if line.startswith("Neighbor address:"):
            return line.split(":", 1)[1].strip()
    return None


class BirdTor:
    """BIRD 2 with its own config and control socket, in ``netns``."""

    def __init__(self, *, netns: str, directory: Path, settings: LabSettings) -> None:
        self.netns = netns
        self.directory = directory
        self._settings = settings
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def ctl(self) -> Path:
        return self.directory / "bird.ctl"

    @property
    def conf(self) -> Path:
        return self.directory / "bird.conf"

    def write_config(self, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(text)

    def start(self) -> None:
        argv = ["ip", "netns", "exec", self.netns, "bird", "-f", "-c", str(self.conf)]
        self._proc = spawn([*argv, "-s", str(self.ctl)], log=self.directory / "bird.log")
        self.pid = self._proc.pid
        deadline = time.monotonic() + self._settings.daemon_start_timeout
        while time.monotonic() < deadline:
            if not self.running():
                break
            try:
                self.birdc("show", "status")
                return
            except LabCommandError:
                time.sleep(POLL)
        self.stop()
        raise LabDaemonError(
            f"BIRD in {self.netns} did not start: {tail(self.directory / 'bird.log', 20)}"
        )

    def stop(self) -> None:
        if self.pid is not None:
            grace = self._settings.daemon_stop_timeout
            _end(self._proc, self.pid, marker=str(self.ctl), grace=grace)
        self.pid = self._proc = None

    def running(self) -> bool:
        return _running(self._proc, self.pid, str(self.ctl))

    def pids(self) -> dict[str, int]:
        return {} if self.pid is None else {"bird": self.pid}

    def birdc(self, *args: str) -> str:
        return run(["birdc", "-s", str(self.ctl), *args], timeout=self._settings.command_timeout)

    def reconfigure(self, text: str) -> None:
        """Load a new config into the running BIRD (``birdc configure``)."""
        self.write_config(text)
        self.birdc("configure")

    def protocols(self) -> dict[str, list[str]]:
        """``show protocols all``: the detail lines of every BGP protocol, by name."""
        blocks: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in self.birdc("show", "protocols", "all").splitlines():
            words = line.split()
            if line[:1].isspace():
                if current is not None:
                    current.append(line.strip())
            elif len(words) >= 2 and words[1] == "BGP":
                current = blocks.setdefault(words[0], [])
            else:
                current = None
        return blocks

    def established(self) -> set[str]:
        up = set()
        for lines in self.protocols().values():
            neighbor = _neighbor(lines)
            if neighbor is not None and "BGP state:          Established" in lines:
                up.add(neighbor)
        return up

    def restarting(self, neighbors: Collection[str] | None = None) -> bool:
        """True while a neighbor (of ``neighbors``, if given) is in graceful restart."""
        for lines in self.protocols().values():
            if neighbors is not None and _neighbor(lines) not in neighbors:
                continue
            if "Neighbor graceful restart active" in lines:
                return True
        return False

    def filtered(self) -> set[str]:
        """Prefixes the import filter rejected (kept thanks to ``import keep filtered``)."""
        text = self.birdc("show", "route", "filtered") + self.birdc(
            "show", "route", "filtered", "table", "master6"
        )
        return set(re.findall(r"^([0-9a-f:.]+/\d+)\s", text, flags=re.MULTILINE))


class FrrTor:
    """FRR 8.4: zebra, then bgpd, as the ``frr`` user, with vty sockets in ``directory``."""

    def __init__(self, *, netns: str, directory: Path, settings: LabSettings) -> None:
        self.netns = netns
        self.directory = directory
        self._settings = settings
        self.pid_zebra: int | None = None
        self.pid_bgpd: int | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def write_config(self, zebra: str, bgpd: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "zebra.conf").write_text(zebra)
        (self.directory / "bgpd.conf").write_text(bgpd)

    def start(self) -> None:
        # FRR refuses to run as root; its user must own the directory it writes in.
        user = pwd.getpwnam(self._settings.frr_user)
        self.directory.chmod(0o755)
        for path in [self.directory, *self.directory.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)
        self.pid_zebra = self._daemon("zebra")
        self._await(lambda: (self.directory / "zserv.api").exists(), "zebra")
        self.pid_bgpd = self._daemon("bgpd")
        self._await(self._bgpd_answers, "bgpd")

    def _daemon(self, name: str) -> int:
        """Start ``name`` (zebra or bgpd) in the foreground; returns its PID."""
        d = self.directory
        argv = [str(self._settings.frr_dir / name), "-f", str(d / f"{name}.conf")]
        argv += ["-i", str(d / f"{name}.pid"), "-z", str(d / "zserv.api"), "--vty_socket", str(d)]
        proc = spawn(["ip", "netns", "exec", self.netns, *argv], log=d / f"{name}.out")
        self._procs[name] = proc
        return proc.pid

    def _await(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self._settings.daemon_start_timeout
        while time.monotonic() < deadline and self.running(partial=True):
            if ready():
                return
            time.sleep(POLL)
        self.stop()
        raise LabDaemonError(
            f"FRR {what} in {self.netns} did not start: {tail(self.directory / f'{what}.out', 20)}"
        )

    def _bgpd_answers(self) -> bool:
        try:
            self.vtysh("show bgp summary json")
        except LabCommandError:
            return False
        return True

    def stop(self) -> None:
        grace = self._settings.daemon_stop_timeout
        for name, pid in (("bgpd", self.pid_bgpd), ("zebra", self.pid_zebra)):
            if pid is not None:
                _end(self._procs.get(name), pid, marker=str(self.directory), grace=grace)
        self.pid_bgpd = self.pid_zebra = None
        self._procs.clear()

    def running(self, *, partial: bool = False) -> bool:
        """Both daemons run (``partial``: every one started so far runs)."""
        marker = str(self.directory)
        up = [
            _running(self._procs.get(name), pid, marker)
            for name, pid in (("zebra", self.pid_zebra), ("bgpd", self.pid_bgpd))
            if pid is not None or not partial
        ]
        return bool(up) and all(up)

    def pids(self) -> dict[str, int]:
        out = {"zebra": self.pid_zebra, "bgpd": self.pid_bgpd}
        return {k: v for k, v in out.items() if v is not None}

    def vtysh(self, *commands: str) -> str:
        argv = ["vtysh", "--vty_socket", str(self.directory)]
        for command in commands:
            argv += ["-c", command]
        return run(argv, timeout=self._settings.command_timeout)

    def restarting(self, neighbors: Collection[str] | None = None) -> bool:
        """True while a route (of ``neighbors``, if given) is stale: graceful restart."""
        for family in ("ipv4", "ipv6"):
            table = json.loads(self.vtysh(f"show bgp {family} unicast json") or "{}")
            for paths in table.get("routes", {}).values():
                for path in paths:
                    if neighbors is not None and path.get("peerId") not in neighbors:
                        continue
                    if path.get("stale"):
                        return True
        return False

    def established(self) -> set[str]:
        up = set()
        for family in ("ipv4", "ipv6"):
            summary = json.loads(self.vtysh(f"show bgp {family} unicast summary json") or "{}")
            for address, peer in summary.get("peers", {}).items():
                if peer.get("state") == "Established":
                    up.add(address)
        return up
