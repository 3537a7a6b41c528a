"""Pods of the lab: a network namespace each, wired by the real ``flatnet`` CNI executable.

Each node gets the plugin installed the way an operator installs it
(``flatnet cni install`` into ``<lab>/<node>/cni/bin`` and ``.../net.d``, pointing at that
node's agent socket). A pod is then added exactly as a container runtime adds one
(libcni's ``pkg/invoke``): the executable from ``CNI_PATH``, the six ``CNI_*`` variables
(``CNI_ARGS`` carrying the Kubernetes pod name and namespace), the network config on
stdin built from the conflist (the plugin object plus ``name`` and ``cniVersion``), and
the result read from stdout, or a spec error and a non-zero exit code.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flatnet.lab.errors import LabCommandError
from flatnet.lab.procs import flatnet_command
from flatnet.lab.settings import LabSettings
from flatnet.lab.shell import run

PLUGIN = "flatnet"
CONFLIST = "10-flatnet.conflist"
IFNAME = "eth0"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    netns: str
    container_id: str
    uid: str
    ips: tuple[str, ...] = ()
    pool: str | None = None
    """The pool its network config named; None: the agent's default pools."""

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def ip(self) -> str:
        """The pod's IPv4 address (its first address when it has none)."""
        return next((a for a in self.ips if ":" not in a), self.ips[0] if self.ips else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"netns_path": self.netns_path, "ip": self.ip}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pod:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**(fields | {"ips": tuple(data.get("ips", ()))}))


@dataclass(frozen=True)
class CniResult:
    rc: int
    out: Any
    stderr: str


class CniNode:
    """The CNI plugin as installed on one node, and a runtime's calls of it."""

    def __init__(self, *, directory: Path, settings: LabSettings, socket: Path) -> None:
        self.directory = directory
        self.settings = settings
        self.socket = socket

    @property
    def bin_dir(self) -> Path:
        return self.directory / "bin"

    @property
    def conf_dir(self) -> Path:
        return self.directory / "net.d"

    def install(self) -> None:
        """``flatnet cni install``: the zipapp and a conflist naming this node's agent."""
        run(
            [
                str(flatnet_command(self.settings)),
                *("cni", "install", "--bin-dir", str(self.bin_dir)),
                *("--conf-dir", str(self.conf_dir), "--python", str(self.settings.cni_python)),
                *("--socket", str(self.socket), "--network-name", self.settings.network_name),
            ],
            timeout=self.settings.cni_timeout,
        )

    def netconf(self, *, pool: str | None = None) -> dict[str, Any]:
        """What libcni writes on the plugin's stdin for the conflist's only plugin; ``pool``
        is what a second network config naming that pool would add."""
        conflist = json.loads((self.conf_dir / CONFLIST).read_text())
        conf = dict(conflist["plugins"][0])
        conf["name"] = conflist["name"]
        conf["cniVersion"] = conflist["cniVersion"]
        if pool is not None:
            conf["pool"] = pool
        return conf

    def invoke(self, command: str, pod: Pod) -> CniResult:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": pod.container_id,
            "CNI_NETNS": pod.netns_path,
            "CNI_IFNAME": IFNAME,
            "CNI_ARGS": ";".join(
                [
                    "IgnoreUnknown=1",
                    f"K8S_POD_NAMESPACE={self.settings.pod_namespace}",
                    f"K8S_POD_NAME={pod.name}",
                    f"K8S_POD_INFRA_CONTAINER_ID={pod.container_id}",
                    f"K8S_POD_UID={pod.uid}",
                ]
            ),
            "CNI_PATH": str(self.bin_dir),
            "PATH": PATH,
        }
        try:
            done = subprocess.run(
                [str(self.bin_dir / PLUGIN)],
                input=json.dumps(self.netconf(pool=pod.pool)),
                env=env,
                capture_output=True,
                text=True,
                timeout=self.settings.cni_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabCommandError(f"CNI {command} {pod.name}: {exc}", argv=[PLUGIN]) from exc
        try:
            out = json.loads(done.stdout) if done.stdout.strip() else None
        except ValueError:
            out = done.stdout
        return CniResult(rc=done.returncode, out=out, stderr=done.stderr)

    def add(self, pod: Pod) -> Pod:
        """ADD; the pod with the addresses of the result."""
        result = self.invoke("ADD", pod)
        if result.rc != 0 or not isinstance(result.out, dict):
            raise LabCommandError(
                f"CNI ADD of {pod.name} failed ({result.rc}): {result.out}",
                argv=[PLUGIN, "ADD"],
                stderr=result.stderr,
            )
        ips = tuple(entry["address"].split("/")[0] for entry in result.out.get("ips", []))
        return Pod(**(asdict(pod) | {"ips": ips}))

    def delete(self, pod: Pod) -> None:
        result = self.invoke("DEL", pod)
        if result.rc != 0:
            raise LabCommandError(
                f"CNI DEL of {pod.name} failed ({result.rc}): {result.out}",
                argv=[PLUGIN, "DEL"],
                stderr=result.stderr,
            )


def new_pod(*, name: str, node: str, netns: str, pool: str | None = None) -> Pod:
    return Pod(
        name=name,
        node=node,
        netns=netns,
        container_id=uuid.uuid4().hex,
        uid=str(uuid.uuid4()),
        pool=pool,
    )
