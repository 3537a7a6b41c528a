"""The Kubernetes manifests in deploy/ agree with the programs they run.

No API server runs here, so these tests check what can go wrong between a manifest and
the code: a container's arguments must be a real ``flatnet`` command line, every
``FLATNET_*`` variable must be a setting the program reads (a typo would be silently
ignored by pydantic-settings), and the values must validate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from fabric_controller.config import ControllerSettings
from flatnet.cli import main as flatnet_main
from ipam_service.config import IpamSettings
from node_agent.config import AgentSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"

# What the kubelet would put into fieldRef and secretKeyRef variables.
FIELD_VALUES = {"spec.nodeName": "node-a", "status.hostIP": "10.10.0.11"}
SECRET_VALUE = "postgresql://flatnet@db.example:5432/flatnet"

SETTINGS: dict[str, tuple[type[BaseSettings], str]] = {
    "ipam": (IpamSettings, "FLATNET_"),
    "controller": (ControllerSettings, "FLATNET_CONTROLLER_"),
    "agent": (AgentSettings, "FLATNET_AGENT_"),
}


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _containers() -> list[pytest.ParameterSet]:
    found = []
    for doc in _documents():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for kind in ("initContainers", "containers"):
            for container in spec.get(kind, []):
                name = f"{doc['metadata']['name']}/{container['name']}"
                found.append(pytest.param(container, id=name))
    return found


def _resolve(args: list[str]) -> click.Context:
    """Parse a command line the way ``flatnet`` would, without running it."""
    command: click.Command = flatnet_main
    ctx = command.make_context("flatnet", list(args), resilient_parsing=False)
    rest = list(args)
    while isinstance(command, click.Group) and rest:
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"unknown command {rest[0]!r} in {args}"
        command, rest = sub, rest[1:]
        ctx = command.make_context(command.name or "", list(rest), parent=ctx)
    return ctx


def _env(container: dict[str, Any], *, root: Path) -> dict[str, str]:
    """The container's environment; paths into its volume mounts point under ``root``,
    where a file stands in for each mounted file (settings check that they exist)."""
    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            value = str(var["value"])
            if any(value.startswith(m + "/") for m in mounts):
                stand_in = root / value.lstrip("/")
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                stand_in.write_text("{}" if value.endswith(".json") else "token\n")
                value = str(stand_in)
            env[var["name"]] = value
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = FIELD_VALUES[var["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            env[var["name"]] = SECRET_VALUE
    return env


def _names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names.update(str(c).lower() for c in choices)
    return names


def _is_setting(model: type[BaseModel], prefix: str, variable: str) -> bool:
    if variable.lower() in _names(model):  # a validation alias such as FLATNET_DATABASE_URL
        return True
    if not variable.startswith(prefix):
        return False
    parts = variable[len(prefix) :].lower().split("__")
    current: type[BaseModel] = model
    for part in parts[:-1]:
        annotation = current.model_fields[part].annotation if part in current.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        current = annotation
    return parts[-1] in current.model_fields


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("container", _containers())
def test_container_runs_a_real_flatnet_command(container: dict[str, Any]) -> None:
    _resolve(container["args"])
    for hook in container.get("lifecycle", {}).values():
        command = hook["exec"]["command"]
        assert command[0] == "flatnet"
        _resolve(command[1:])


@pytest.mark.parametrize("container", _containers())
def test_container_environment_is_read_and_valid(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _env(container, root=tmp_path)
    if not env:
        return
    settings, prefix = SETTINGS[container["args"][0]]
    unknown = [v for v in env if not _is_setting(settings, prefix, v)]
    assert unknown == [], f"{settings.__name__} does not read {unknown}"
    for variable in list(os.environ):
        if variable.startswith("FLATNET_"):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings()


def test_controller_rbac_covers_what_the_adapter_uses() -> None:
    rules: dict[str, set[str]] = {}
    for doc in _documents():
        if doc["kind"] in {"ClusterRole", "Role"}:
            for rule in doc["rules"]:
                for resource in rule["resources"]:
                    rules.setdefault(resource, set()).update(rule["verbs"])
    assert {"get", "list", "watch"} <= rules["nodes"]
    assert {"get", "list", "watch"} <= rules["namespaces"]
    assert {"get", "create", "update"} <= rules["leases"]


def test_agent_sees_runtime_namespaces_created_after_it_started() -> None:
    (agent,) = [d for d in _documents() if d["kind"] == "DaemonSet"]
    spec = agent["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/var/run/netns"]["mountPropagation"] == "HostToContainer"
