"""The installed executable: build, atomic install, CLI, -IS, Python 3.9, imports."""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cni import install as install_module
from cni.cli import cni
from cni.install import BOOTSTRAP, BUNDLED_MODULES, install, render_conflist, shebang_interpreter
from tests.cni.conftest import SYSTEM_PYTHON
from tests.cni.harness import Plugin

CNI_DIR = Path(install_module.__file__).parent


def test_install_writes_both_files_with_modes(tmp_path: Path) -> None:
    installed = install(bin_dir=tmp_path / "bin", conf_dir=tmp_path / "net.d", python=SYSTEM_PYTHON)
    assert stat.S_IMODE(installed.executable.stat().st_mode) == 0o755
    assert stat.S_IMODE(installed.conflist.stat().st_mode) == 0o644
    first_line = installed.executable.read_bytes().split(b"\n", 1)[0]
    assert first_line == b"#!/usr/bin/python3 -ISc" + BOOTSTRAP.encode()
    assert json.loads(installed.conflist.read_text())["name"] == "flatnet"


def test_install_replaces_atomically_by_rename(tmp_path: Path) -> None:
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    first = install(bin_dir=bin_dir, conf_dir=conf_dir, python=SYSTEM_PYTHON)
    before = (first.executable.stat().st_ino, first.conflist.stat().st_ino)
    # A runtime that opened the old file keeps reading the old inode.
    with first.executable.open("rb") as old:
        second = install(bin_dir=bin_dir, conf_dir=conf_dir, python=SYSTEM_PYTHON, mtu=1400)
        assert old.read(2) == b"#!"
    after = (second.executable.stat().st_ino, second.conflist.stat().st_ino)
    assert before[0] != after[0]
    assert before[1] != after[1]
    assert sorted(p.name for p in bin_dir.iterdir()) == ["flatnet"]
    assert sorted(p.name for p in conf_dir.iterdir()) == ["10-flatnet.conflist"]
    assert json.loads(second.conflist.read_text())["plugins"][0]["mtu"] == 1400


def test_install_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        install(bin_dir=tmp_path / "bin", conf_dir=tmp_path / "net.d", python="python3")
    assert not (tmp_path / "bin").exists() or not list((tmp_path / "bin").iterdir())


def test_render_conflist_plugin_keys() -> None:
    conflist = render_conflist(network_name="pods", socket="/run/x.sock", mtu=9000, pool="blue")
    assert conflist["plugins"] == [
        {"type": "flatnet", "agentSocket": "/run/x.sock", "mtu": 9000, "pool": "blue"}
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{"network_name": "-bad"}, {"socket": "rel.sock"}, {"mtu": 20}],
    ids=["name", "socket", "mtu"],
)
def test_render_conflist_refuses_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"invalid network name|absolute path|mtu must be"):
        render_conflist(**kwargs)  # type: ignore[arg-type]


def test_cli_install(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cni,
        [
            "install",
            "--bin-dir", str(tmp_path / "bin"),
            "--conf-dir", str(tmp_path / "net.d"),
            "--python", SYSTEM_PYTHON,
            "--socket", "/run/fn.sock",
            "--network-name", "pods",
            "--mtu", "1450",
            "--pool", "blue",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    conflist = json.loads((tmp_path / "net.d" / "10-flatnet.conflist").read_text())
    assert conflist["name"] == "pods"
    assert conflist["plugins"][0] == {
        "type": "flatnet", "agentSocket": "/run/fn.sock", "mtu": 1450, "pool": "blue",
    }  # fmt: skip
    assert os.access(tmp_path / "bin" / "flatnet", os.X_OK)


def test_cli_install_rejects_relative_python(tmp_path: Path) -> None:
    args = ["install", "--bin-dir", str(tmp_path), "--conf-dir", str(tmp_path), "--python", "py"]
    result = CliRunner().invoke(cni, args)
    assert result.exit_code != 0
    assert "absolute path" in result.output


def test_zipapp_bundles_only_the_plugin(plugin: Plugin) -> None:
    names = set(zipfile.ZipFile(plugin.executable).namelist())
    expected = {"__main__.py", "cni/", "cni/__init__.py", "cni/__init__.pyc"}
    expected |= {f"cni/{m}.py" for m in BUNDLED_MODULES} | {f"cni/{m}.pyc" for m in BUNDLED_MODULES}
    assert names == expected
    assert "cni/cli.py" not in names
    assert "cni/install.py" not in names


def test_zipapp_runs_isolated_without_site(plugin: Plugin, tmp_path: Path) -> None:
    # A poisoned cni package in the cwd and on PYTHONPATH must not be imported.
    (tmp_path / "cni").mkdir()
    (tmp_path / "cni" / "__init__.py").write_text("raise SystemExit('poisoned')\n")
    proc = subprocess.run(
        [str(plugin.executable)],
        env={"CNI_COMMAND": "VERSION", "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        input=b"{}",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cniVersion"] == "1.1.0"


def test_zipapp_falls_back_to_source_when_pyc_does_not_match(tmp_path: Path) -> None:
    target = tmp_path / "flatnet"
    built = Plugin.build(tmp_path, python=SYSTEM_PYTHON).executable
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".pyc"):
                data = b"\0\0\0\0" + data[4:]  # a foreign interpreter's magic
            dst.writestr(item, data)
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-IS", str(target)],
        env={"CNI_COMMAND": "VERSION"},
        input=b"{}",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["supportedVersions"]


@pytest.mark.parametrize("module", ["__init__", *BUNDLED_MODULES])
def test_plugin_modules_parse_as_python_3_9(module: str) -> None:
    source = (CNI_DIR / f"{module}.py").read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Match), f"{module}: match statement"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                top = (node.module if isinstance(node, ast.ImportFrom) else alias.name) or ""
                assert top.split(".")[0] not in {"click", "pydantic", "httpx", "node_agent"}
    future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    if module != "__init__":
        assert future, f"{module}: needs from __future__ import annotations"
    _assert_no_runtime_union(tree, module)


def _assert_no_runtime_union(tree: ast.Module, module: str) -> None:
    """``X | Y`` is only allowed inside annotations (strings under the future import)."""
    annotations: set[int] = set()
    for node in ast.walk(tree):
        for ann in _annotation_nodes(node):
            annotations.update(id(sub) for sub in ast.walk(ann))
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            looks_like_types = _is_type_expr(node.left) or _is_type_expr(node.right)
            assert id(node) in annotations or not looks_like_types, (
                f"{module}:{node.lineno}: runtime X | Y"
            )


TYPE_NAMES = {"str", "int", "float", "bool", "bytes", "dict", "list", "tuple", "object"}


def _is_type_expr(node: ast.expr) -> bool:
    """``None``, ``List[int]``, ``str`` or ``ClassName``: a PEP 604 union operand."""
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Subscript):
        return True
    if isinstance(node, ast.Name):
        return node.id in TYPE_NAMES or (node.id[:1].isupper() and not node.id.isupper())
    return False


def _annotation_nodes(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    if isinstance(node, ast.arg) and node.annotation is not None:
        return [node.annotation]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
        return [node.returns]
    return []


def _imported_modules(plugin: Plugin, env: dict[str, str], stdin: bytes) -> set[str]:
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-IS", "-X", "importtime", str(plugin.executable)],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("import time:")]
    return {ln.rsplit("|", 1)[1].strip() for ln in lines}


def test_version_path_imports_stay_minimal(plugin: Plugin) -> None:
    imported = _imported_modules(plugin, {"CNI_COMMAND": "VERSION"}, b'{"cniVersion":"1.0.0"}')
    assert {"cni.plugin", "cni.versions", "cni.streams"} <= imported
    heavy = {"json", "re", "dataclasses", "typing", "socket", "cni.contract", "logging", "email"}
    assert not heavy & imported


def test_agent_path_never_imports_http_client(plugin: Plugin) -> None:
    env = {
        "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/etc/hostname",
        "CNI_IFNAME": "eth0",
    }  # fmt: skip
    stdin = b'{"cniVersion":"1.0.0","name":"n","agentSocket":"/nonexistent.sock"}'
    imported = _imported_modules(plugin, env, stdin)
    assert "cni.httpunix" in imported
    assert not {"http.client", "email", "asyncio", "logging", "json", "click"} & imported


def test_a_python_path_too_long_for_the_fast_shebang_keeps_plain_isolated_mode() -> None:
    long_python = "/opt/" + "x" * 80 + "/bin/python3"
    assert shebang_interpreter(long_python) == f"{long_python} -IS"
    assert shebang_interpreter("/usr/bin/python3").startswith("/usr/bin/python3 -ISc")


def test_agent_path_skips_runpy_dataclasses_typing_and_socket(plugin: Plugin) -> None:
    """Run as the kernel runs it (through the shebang), ADD imports nothing heavy."""
    env = {
        "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/etc/hostname",
        "CNI_IFNAME": "eth0", "PYTHONPROFILEIMPORTTIME": "1",
    }  # fmt: skip
    stdin = b'{"cniVersion":"1.0.0","name":"n","agentSocket":"/nonexistent.sock"}'
    proc = subprocess.run(
        [str(plugin.executable)], env=env, input=stdin, capture_output=True, timeout=30, check=False
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["code"] == 11  # all the way to the (absent) agent
    # -I ignores PYTHON* variables, so ask the bundled bootstrap's interpreter directly
    first_line = plugin.executable.read_bytes().split(b"\n", 1)[0].decode()
    interpreter, flags = first_line[2:].split(" ", 1)
    traced = subprocess.run(
        [interpreter, "-X", "importtime", flags, str(plugin.executable)],
        env=env, input=stdin, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    lines = [ln for ln in traced.stderr.decode().splitlines() if ln.startswith("import time:")]
    imported = {ln.rsplit("|", 1)[1].strip() for ln in lines}
    assert {"cni.verbs", "cni.httpunix", "cni.contract"} <= imported
    assert not {"runpy", "dataclasses", "typing", "socket", "inspect", "enum", "os"} & imported
