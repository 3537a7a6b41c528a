"""A small libcni-like driver for the ``flatnet`` plugin executable.

It builds the real executable with :func:`cni.install.install` and runs it as a
subprocess exactly the way libcni's ``pkg/invoke`` does (checklist 16.6):

* all six ``CNI_*`` variables are always exported, empty strings when unused
  (CNI-011); nothing else of the test's environment leaks in unless asked;
* ``name`` and ``cniVersion`` are injected into the plugin object, and
  ``prevResult`` / ``runtimeConfig`` when given; ``runtimeConfig`` only carries the
  capabilities the plugin object enables, as libcni filters it (CNI-023);
* stdout is parsed as JSON, the exit code and stderr are returned untouched.

Usage::

    plugin = Plugin.build(tmp_path, python="/usr/bin/python3")
    run = plugin.run("ADD", conf, container_id="c1", netns="/run/netns/x", ifname="eth0")
    assert run.rc == 1 and run.out["code"] == 11

:func:`run_chain` runs a conflist's plugin list like libcni's
``AddNetworkList``/``DelNetworkList``/``CheckNetworkList``: forward order for ADD and
CHECK (each ADD's result becomes the next plugin's ``prevResult``), reverse order
for DEL, and it stops at the first failure.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cni.install import PLUGIN_NAME, install

DEFAULT_TIMEOUT = 30.0
"""Seconds before a plugin run counts as hung (the plugin's own timeouts are lower)."""
LIST_ONLY_KEYS = ("cniVersions", "disableCheck", "disableGC", "loadOnlyInlinedPlugins", "plugins")


@dataclass(frozen=True)
class Run:
    """One plugin invocation: exit code, parsed stdout (``None`` if empty), stderr."""

    rc: int
    out: Any
    stdout: str
    stderr: str
    seconds: float = 0.0

    def log_lines(self) -> list[dict[str, Any]]:
        """stderr as the JSON log lines the plugin writes."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.strip()]


def plugin_stdin(
    plugin_conf: Mapping[str, Any],
    *,
    name: str,
    cni_version: str | None,
    prev_result: Mapping[str, Any] | None = None,
    runtime_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stdin object libcni builds for one plugin of a list (``buildOneConfig``)."""
    conf = copy.deepcopy(dict(plugin_conf))
    conf["name"] = name
    if cni_version is not None:
        conf["cniVersion"] = cni_version
    if prev_result is not None:
        conf["prevResult"] = copy.deepcopy(dict(prev_result))
    capabilities = conf.get("capabilities") or {}
    wanted = {k: v for k, v in (runtime_config or {}).items() if capabilities.get(k) is True}
    if wanted:
        conf["runtimeConfig"] = wanted
    return conf


@dataclass(frozen=True)
class Plugin:
    """The installed executable plus the directories it was installed into."""

    executable: Path
    conflist: Path
    argv_prefix: tuple[str, ...] = ()
    """Prepended to every :meth:`run` (e.g. ``ip netns exec <node>``: the runtime's netns)."""

    @classmethod
    def build(cls, root: Path, *, python: str, **install_options: Any) -> Plugin:
        installed = install(
            bin_dir=root / "bin", conf_dir=root / "net.d", python=python, **install_options
        )
        return cls(executable=installed.executable, conflist=installed.conflist)

    def exec(
        self,
        env: Mapping[str, str],
        stdin: bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        argv_prefix: tuple[str, ...] = (),
    ) -> Run:
        """Run the executable with exactly ``env`` and ``stdin``; no injection."""
        import time

        started = time.monotonic()
        proc = subprocess.run(
            [*argv_prefix, str(self.executable)],
            input=stdin,
            env=dict(env),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        stdout = proc.stdout.decode("utf-8")
        out = json.loads(stdout) if stdout.strip() else None
        return Run(proc.returncode, out, stdout, proc.stderr.decode("utf-8", "replace"), seconds)

    def run(
        self,
        command: str,
        conf: Mapping[str, Any] | None = None,
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: str = "",
        path: str = "",
        name: str = "testnet",
        cni_version: str | None = "1.1.0",
        prev_result: Mapping[str, Any] | None = None,
        runtime_config: Mapping[str, Any] | None = None,
        extra_env: Mapping[str, str] | None = None,
        raw_stdin: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Run:
        """Invoke one verb as libcni does; ``raw_stdin`` bypasses the injection."""
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_ARGS": args,
            "CNI_PATH": path,
        }
        env.update(extra_env or {})
        if raw_stdin is None:
            document = plugin_stdin(
                conf or {"type": PLUGIN_NAME},
                name=name,
                cni_version=cni_version,
                prev_result=prev_result,
                runtime_config=runtime_config,
            )
            raw_stdin = json.dumps(document).encode()
        return self.exec(env, raw_stdin, timeout=timeout, argv_prefix=self.argv_prefix)

    def installed_conflist(self) -> dict[str, Any]:
        conflist: dict[str, Any] = json.loads(self.conflist.read_text())
        return conflist


def run_chain(
    command: str,
    conflist: Mapping[str, Any],
    executables: Mapping[str, Plugin],
    *,
    cni_version: str | None = None,
    prev_result: Mapping[str, Any] | None = None,
    **params: Any,
) -> list[Run]:
    """Run ``conflist["plugins"]`` like libcni, each ``type`` from ``executables``.

    Returns one :class:`Run` per plugin executed; the last ADD result is the
    chain's result. ``prev_result`` is the cached result for CHECK and DEL.
    """
    version = cni_version or conflist["cniVersion"]
    plugins = list(conflist["plugins"])
    if command == "DEL":
        plugins.reverse()
    runs: list[Run] = []
    previous = prev_result
    for plugin_conf in plugins:
        run = executables[plugin_conf["type"]].run(
            command,
            plugin_conf,
            name=conflist["name"],
            cni_version=version,
            prev_result=previous,
            **params,
        )
        runs.append(run)
        if run.rc != 0:
            break
        if command == "ADD":
            previous = run.out
    return runs
