"""A lab: the namespaces of :mod:`topology` plus a ToR daemon per ToR, with a state file.

``Lab.up`` builds everything and writes ``<state_root>/<prefix>/state.json`` first
thing, so that ``Lab.load(path).down()`` can clean up even after a crash halfway.
Whatever is added later (:mod:`flatnet.lab.fabric`: IPAM, PostgreSQL, agents, pod
namespaces) is recorded in the same file before it exists (:meth:`Lab.track`,
``pod_namespaces``). ``down`` ends those processes and the lab's daemons by PID, deletes
the pod namespaces and exactly the namespaces the plan names, and removes the lab's
directory. The state file is what a later ``flatnet lab`` command (or a test in another
process) reads to find the lab again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any, Literal

from flatnet.lab import topology as topo
from flatnet.lab import torconf
from flatnet.lab.bare import BareExabgp, BareNeighbor
from flatnet.lab.errors import LabError, LabStateNotFound
from flatnet.lab.procs import Tracked
from flatnet.lab.routewatch import RouteWatch
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import ip
from flatnet.lab.tor import KERNEL_PROTOS, BirdTor, FrrTor, kernel_routes

TorKind = Literal["bird", "frr"]
STATE_FILE = "state.json"
PREFIX_ATTEMPTS = 5


class Lab:
    def __init__(
        self,
        *,
        settings: LabSettings,
        topology: topo.Topology,
        tor_kind: TorKind,
        passwords: Mapping[str, str] | None = None,
        combined: bool = False,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.tor_kind: TorKind = tor_kind
        self.passwords = dict(passwords or {})
        """MD5 passwords by node name (the ToR side; nodes read theirs from a file)."""
        self.combined = combined
        """One IPv4 session per node carrying both families, instead of one per family."""
        self.directory = settings.state_root / topology.prefix
        self.tors: dict[int, BirdTor | FrrTor] = {t.index: self._make_tor(t) for t in topology.tors}
        self.processes: dict[str, Tracked] = {}
        """Further processes the lab started (IPAM, PostgreSQL, agents), ended by ``down``
        in the reverse order of their start."""
        self.pod_namespaces: list[str] = []
        """Namespaces made beyond the plan's (pods); deleted by ``down``."""
        self.fabric: dict[str, Any] = {}
        """What :mod:`flatnet.lab.fabric` keeps in the state file (IPAM, nodes, pods)."""

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def up(
        cls,
        settings: LabSettings,
        *,
        nodes: int = 2,
        tors: int = 1,
        tor_kind: TorKind = "bird",
        passwords: Mapping[str, str] | None = None,
        combined: bool = False,
    ) -> Lab:
        """Create namespaces and start the ToRs; on failure undo all of it."""
        for _ in range(PREFIX_ATTEMPTS):  # a random prefix already taken: draw again
            plan = topo.plan(settings, prefix=topo.new_prefix(settings), nodes=nodes, tors=tors)
            if not topo.existing(plan, timeout=settings.command_timeout):
                break
        else:
            raise LabError("no free lab name prefix found")
        lab = cls(
            settings=settings,
            topology=plan,
            tor_kind=tor_kind,
            passwords=passwords,
            combined=combined,
        )
        settings.state_root.mkdir(parents=True, exist_ok=True)
        settings.state_root.chmod(0o755)  # FRR, running as its own user, must get through
        lab.directory.mkdir(mode=0o755)
        lab.save()
        try:
            topo.create(plan, timeout=settings.command_timeout)
        except BaseException:  # create() removed what it made, and only that
            shutil.rmtree(lab.directory, ignore_errors=True)
            raise
        try:
            for index in lab.tors:
                lab.start_tor(index)
        except BaseException:
            lab.down()
            raise
        return lab

    @classmethod
    def load(cls, state_file: Path, settings: LabSettings | None = None) -> Lab:
        try:
            data = json.loads(state_file.read_text())
        except FileNotFoundError as exc:
            raise LabStateNotFound(f"no lab state at {state_file}") from exc
        lab = cls(
            settings=settings or LabSettings.model_validate(data["settings"]),
            topology=topo.Topology.from_json(data["topology"]),
            tor_kind=data["tor_kind"],
            passwords=data.get("passwords"),
            combined=data.get("combined", False),
        )
        lab.processes = {
            name: Tracked.from_json(record) for name, record in data.get("processes", {}).items()
        }
        lab.pod_namespaces = list(data.get("pod_namespaces", []))
        lab.fabric = dict(data.get("fabric", {}))
        for index, pids in data.get("pids", {}).items():
            tor = lab.tors[int(index)]
            if isinstance(tor, BirdTor):
                tor.pid = pids.get("bird")
            else:
                tor.pid_zebra, tor.pid_bgpd = pids.get("zebra"), pids.get("bgpd")
        return lab

    @property
    def state_file(self) -> Path:
        return self.directory / STATE_FILE

    def save(self) -> None:
        data: dict[str, Any] = {
            "settings": self.settings.model_dump(mode="json"),
            "topology": self.topology.to_json(),
            "tor_kind": self.tor_kind,
            "passwords": self.passwords,
            "combined": self.combined,
            "pids": {str(k): t.pids() for k, t in self.tors.items()},
            "processes": {name: t.to_json() for name, t in self.processes.items()},
            "pod_namespaces": self.pod_namespaces,
            "fabric": self.fabric,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def down(self) -> None:
        """Stop every process and daemon by PID, delete the namespaces, remove the
        directory; safe to repeat, and after a crash halfway through ``up``."""
        for record in reversed(list(self.processes.values())):
            record.stop(grace=self.settings.stop_timeout)
        timeout = self.settings.command_timeout
        present = set(ip("netns", "list", timeout=timeout).split())
        for name in self.pod_namespaces:
            if name in present:
                ip("netns", "del", name, timeout=timeout, check=False)
        for tor in self.tors.values():
            tor.stop()
        topo.destroy(self.topology, timeout=timeout)
        shutil.rmtree(self.directory, ignore_errors=True)

    def track(self, record: Tracked) -> None:
        """Remember a process in the state file (at once: a crash must not lose it)."""
        self.processes[record.name] = record
        self.save()

    # -- ToRs -----------------------------------------------------------------------------

    def _make_tor(self, plan: topo.TorPlan) -> BirdTor | FrrTor:
        directory = self.directory / f"tor{plan.index}-{self.tor_kind}"
        if self.tor_kind == "bird":
            return BirdTor(netns=plan.netns, directory=directory, settings=self.settings)
        return FrrTor(netns=plan.netns, directory=directory, settings=self.settings)

    def tor(self, index: int = 1) -> BirdTor | FrrTor:
        return self.tors[index]

    def tor_sessions(self, index: int = 1) -> list[torconf.TorSession]:
        return torconf.sessions(
            self.topology, index, passwords=self.passwords, combined=self.combined
        )

    def start_tor(self, index: int = 1) -> None:
        """(Re)write the ToR's config from the plan and start its daemon(s)."""
        tor = self.tors[index]
        policy = torconf.policy(self.settings, self.topology, index)
        sessions = self.tor_sessions(index)
        if isinstance(tor, BirdTor):
            tor.write_config(torconf.bird(policy, sessions))
        else:
            logs = tor.directory
            tor.write_config(
                torconf.frr_zebra(policy, log_file=str(logs / "zebra.log")),
                torconf.frr_bgpd(policy, sessions, log_file=str(logs / "bgpd.log")),
            )
        tor.start()
        self.save()

    def stop_tor(self, index: int = 1) -> None:
        self.tors[index].stop()
        self.save()

    @property
    def proto(self) -> str:
        """``rtm_protocol`` of the routes the ToR daemon installs (``bird`` or ``bgp``)."""
        return KERNEL_PROTOS[self.tor_kind]

    def routes(self, index: int = 1) -> dict[str, set[str]]:
        """The ToR's kernel routes from its daemon: prefix -> next hops."""
        return kernel_routes(
            self.topology.tor(index).netns,
            proto=self.proto,
            timeout=self.settings.command_timeout,
        )

    def watch(self, index: int = 1) -> RouteWatch:
        """An unstarted watcher of the ToR's kernel routes (use as a context manager)."""
        return RouteWatch(
            self.topology.tor(index).netns,
            sentinel=str(self.settings.watch_sentinel.network_address),
            table=self.settings.watch_table,
            timeout=self.settings.command_timeout,
        )

    # -- what a node agent needs ----------------------------------------------------------

    def node_peers(self, node: str) -> list[dict[str, Any]]:
        """The node's ToR sessions, shaped as the agent's ``BgpPeer`` settings."""
        plan = self.topology.node(node)
        out = []
        for index in self.tors:
            for session in self.tor_sessions(index):
                if session.node != node:
                    continue
                hops = session.next_hops
                out.append(
                    {
                        "address": str(session.local),  # the ToR, seen from the node
                        "peer_as": self.topology.tor(index).asn,
                        "local_as": plan.asn,
                        "local_address": str(session.neighbor),
                        "router_id": str(plan.links[0].ipv4.ip),
                        "hold_time": self.settings.hold_time,
                        "graceful_restart": self.settings.graceful_restart,
                        "families": [f"{f} unicast" for f in session.families],
                        "next_hop_ipv4": _text(hops.get(torconf.IPV4)),
                        "next_hop_ipv6": _text(hops.get(torconf.IPV6)),
                    }
                )
        return out

    def bare_speaker(self, node: str, *, name: str = "bare") -> BareExabgp:
        """A bare ExaBGP (no agent code) with the node's sessions, not started yet."""
        plan = self.topology.node(node)
        neighbors = [
            BareNeighbor(
                peer=ip_address(p["address"]),
                local=ip_address(p["local_address"]),
                router_id=IPv4Address(p["router_id"]),
                local_as=p["local_as"],
                peer_as=p["peer_as"],
                families=tuple(f.split()[0] for f in p["families"]),
                password=self.passwords.get(node),
                graceful_restart=self.settings.graceful_restart,
                hold_time=self.settings.hold_time,
            )
            for p in self.node_peers(node)
        ]
        return BareExabgp(
            netns=plan.netns,
            directory=self.directory / f"{node}-{name}",
            neighbors=neighbors,
            settings=self.settings,
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
