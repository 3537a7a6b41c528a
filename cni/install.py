"""Install the plugin executable and its conflist on a node.

The executable is a zipapp (PEP 441) built with the standard ``zipapp`` module:

* shebang ``#!<python> -ISc<bootstrap>``: isolated mode, no ``site``, so neither
  the node's environment nor its site-packages can change what the plugin does,
  and no ``runpy`` (see :func:`shebang_interpreter`);
* ``__main__.py`` calls :func:`cni.plugin.main`;
* the plugin's modules only (``cni/__init__.py`` is a stub; ``install`` and ``cli``
  are left out, so ``click`` never reaches the node), each as source plus an
  unchecked-hash ``.pyc`` from the building interpreter. ``zipimport`` uses the
  ``.pyc`` when its magic matches the node's ``python3`` and silently falls back
  to compiling the source otherwise, so the file runs on any Python >= 3.9.

Both files are written atomically (temp file in the same directory, fsync,
rename), so a runtime never executes or parses a half-written file.
"""

from __future__ import annotations

import io
import json
import os
import py_compile
import tempfile
import zipapp
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from cni import versions
from cni.contract import DEFAULT_SOCKET
from cni.environ import is_valid_name

PLUGIN_NAME = "flatnet"
CONFLIST_NAME = "10-flatnet.conflist"
DEFAULT_NETWORK = "flatnet"
BUNDLED_MODULES = (
    "agentclient",
    "contract",
    "environ",
    "errors",
    "httpunix",
    "netconf",
    "plugin",
    "records",
    "results",
    "streams",
    "verbs",
    "versions",
)
"""The modules of the executable; none of them imports anything outside stdlib."""

BOOTSTRAP = "import sys;sys.path[0:0]=sys.argv[1:2];from cni.plugin import main;sys.exit(main())"
"""Run by ``python3 -ISc`` from the shebang line; see :func:`shebang_interpreter`."""
MAX_SHEBANG = 127
_PACKAGE_STUB = '"""flatnet CNI plugin, bundled into a zipapp by cni.install."""\n'
_MAIN = "import sys\n\nfrom cni.plugin import main\n\nsys.exit(main())\n"


@dataclass(frozen=True)
class Installed:
    executable: Path
    conflist: Path


def _stage(staging: Path) -> None:
    package = staging / "cni"
    package.mkdir()
    sources = {
        f"{name}.py": (Path(__file__).parent / f"{name}.py").read_text("utf-8")
        for name in BUNDLED_MODULES
    }
    sources["__init__.py"] = _PACKAGE_STUB
    for filename, text in sources.items():
        source = package / filename
        source.write_text(text, "utf-8")
        py_compile.compile(
            str(source),
            cfile=str(source.with_suffix(".pyc")),
            dfile=f"cni/{filename}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    (staging / "__main__.py").write_text(_MAIN, "utf-8")


def shebang_interpreter(python: str) -> str:
    """What follows ``#!``: ``<python> -ISc<BOOTSTRAP>``, or ``<python> -IS`` if too long.

    Run as a zipapp (``python3 -IS flatnet``), the interpreter imports ``runpy``
    and with it ``importlib.util``, ``contextlib``, ``collections`` and
    ``functools``: about 6 ms of every call. Linux passes everything after the
    interpreter path as one argument, so ``-ISc<code>`` runs ``BOOTSTRAP`` with the
    executable's own path in ``sys.argv[1]``; the bootstrap puts that path (the zip)
    first on ``sys.path`` and calls the plugin directly. The file stays a valid
    zipapp (``python3 flatnet`` works too). Kernels before 5.1 read only 127 bytes
    of a ``#!`` line, so a line that would be longer keeps the plain ``-IS``.
    """
    fast = f"{python} -ISc{BOOTSTRAP}"
    return fast if len(fast) + 2 <= MAX_SHEBANG else f"{python} -IS"


def build_executable(*, python: str) -> bytes:
    """The zipapp's bytes, with the shebang of :func:`shebang_interpreter`."""
    if not os.path.isabs(python) or any(c.isspace() for c in python):
        raise ValueError(f"--python must be an absolute path without spaces, got {python!r}")
    with tempfile.TemporaryDirectory(prefix="flatnet-zipapp-") as tmp:
        staging = Path(tmp)
        _stage(staging)
        buffer = io.BytesIO()
        interpreter = shebang_interpreter(python)
        zipapp.create_archive(staging, buffer, interpreter=interpreter, compressed=False)
    return buffer.getvalue()


def render_conflist(
    *,
    network_name: str = DEFAULT_NETWORK,
    socket: str = DEFAULT_SOCKET,
    mtu: Optional[int] = None,
    pool: Optional[str] = None,
) -> Dict[str, Any]:
    """The network list: 1.0.0 for libcni <= 1.1, ``cniVersions`` for newer (CNI-004)."""
    if not is_valid_name(network_name):
        raise ValueError(f"invalid network name {network_name!r}")
    if not socket.startswith("/"):
        raise ValueError(f"agent socket must be an absolute path, got {socket!r}")
    if mtu is not None and not 68 <= mtu <= 65535:
        raise ValueError(f"mtu must be in [68, 65535], got {mtu}")
    plugin: Dict[str, Any] = {"type": PLUGIN_NAME, "agentSocket": socket}
    if mtu is not None:
        plugin["mtu"] = mtu
    if pool is not None:
        plugin["pool"] = pool
    return {
        "cniVersion": versions.CONFLIST_VERSION,
        "cniVersions": list(versions.CONFLIST_VERSIONS),
        "name": network_name,
        "plugins": [plugin],
    }


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one rename; readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def install(
    *,
    bin_dir: Path,
    conf_dir: Path,
    python: str,
    socket: str = DEFAULT_SOCKET,
    network_name: str = DEFAULT_NETWORK,
    mtu: Optional[int] = None,
    pool: Optional[str] = None,
    conflist_name: str = CONFLIST_NAME,
) -> Installed:
    """Write ``<bin_dir>/flatnet`` (0755) and ``<conf_dir>/<conflist_name>`` (0644)."""
    bin_dir, conf_dir = Path(bin_dir), Path(conf_dir)
    conflist = render_conflist(network_name=network_name, socket=socket, mtu=mtu, pool=pool)
    executable = build_executable(python=python)
    bin_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    # The binary first: a runtime that sees the conflist must find the plugin.
    write_atomically(bin_dir / PLUGIN_NAME, executable, mode=0o755)
    text = json.dumps(conflist, indent=2) + "\n"
    write_atomically(conf_dir / conflist_name, text.encode("utf-8"), mode=0o644)
    return Installed(executable=bin_dir / PLUGIN_NAME, conflist=conf_dir / conflist_name)
