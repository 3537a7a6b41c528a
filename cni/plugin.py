"""Entry point of the ``flatnet`` CNI plugin executable.

The runtime runs the plugin as ``python3 -IS flatnet`` with ``CNI_*`` variables and
the network configuration on stdin. :func:`main` answers VERSION from
:mod:`cni.versions` alone, so that path imports neither ``cni.contract`` (and its
``dataclasses``) nor ``socket``; every other verb goes through :func:`run_verb`:

1. ``environ.from_environ`` - the ``CNI_*`` parameters (code 4);
2. stdin read (code 5) and ``netconf.parse`` (codes 6, 1, 7);
3. ``environ.check_netns`` (codes 4, 8);
4. the verb in :mod:`cni.verbs`, talking to the agent over its unix socket.

Exit 0 with the result (ADD) or nothing (other verbs) on stdout, or exit 1 with the
spec's error object on stdout (CNI-030/031). Logs go to stderr.
"""

from __future__ import annotations

import posix
import sys

from cni import streams, versions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional, TextIO

ABOUT = "flatnet CNI plugin: routed /32 pod addresses from the flatnet node agent"


def main(environ: Optional[Mapping[str, str]] = None) -> int:
    """Run one CNI invocation; return the process exit code."""
    env = process_environ() if environ is None else environ
    out = streams.claim_stdout()
    command = env.get("CNI_COMMAND", "")
    if command == "VERSION":
        return _version(out)
    if command == "":
        # Like Go skel (CNI-013): run by hand without a command, say what we are.
        supported = ", ".join(versions.SUPPORTED_VERSIONS)
        sys.stderr.write(f"{ABOUT}\nCNI protocol versions supported: {supported}\n")
        return 0
    return run_verb(env, out)


def process_environ() -> Dict[str, str]:
    """The environment, decoded as ``os.environ`` decodes it, without importing ``os``
    (``posix`` is built in and already loaded; ``os`` costs over a millisecond a call)."""
    encoding = sys.getfilesystemencoding()
    return {
        key.decode(encoding, "surrogateescape"): value.decode(encoding, "surrogateescape")
        for key, value in posix.environ.items()
    }


def _version(out: TextIO) -> int:
    """VERSION needs nothing but CNI_COMMAND and never fails (CNI-090/091)."""
    try:
        text = streams.read_stdin()
    except (OSError, ValueError):
        text = ""
    streams.write_json(out, versions.version_reply(text))
    return 0


def run_verb(environ: Mapping[str, str], out: TextIO) -> int:
    """ADD, DEL, CHECK, STATUS, GC, or an unknown command (code 4)."""
    from cni import environ as cni_environ
    from cni import netconf, verbs
    from cni.agentclient import AgentClient
    from cni.errors import ERR_DECODE, ERR_INTERNAL, ERR_IO, CniError

    text = ""
    try:
        env = cni_environ.from_environ(environ)
        try:
            text = streams.read_stdin()
        except OSError as err:
            raise CniError(ERR_IO, "failed to read network config from stdin", str(err)) from None
        except UnicodeDecodeError as err:
            raise CniError(ERR_DECODE, "network config is not UTF-8", str(err)) from None
        conf = netconf.parse(text, command=env.command)
        cni_environ.check_netns(env)
        agent = AgentClient(
            socket_path=conf.agent_socket, timeout=verbs.agent_timeout(env.command, conf)
        )
        result = verbs.VERBS[env.command](env, conf, agent)
    except CniError as err:
        return _fail(out, err.to_dict(versions.reply_version(text)), environ)
    except Exception as err:  # the runtime must always get an error object
        import traceback

        traceback.print_exc(file=sys.stderr)
        error = CniError(ERR_INTERNAL, f"internal error: {type(err).__name__}", str(err))
        return _fail(out, error.to_dict(versions.reply_version(text)), environ)
    if result is not None:
        streams.write_json(out, result)
    return 0


def _fail(out: TextIO, error: dict[str, object], environ: Mapping[str, str]) -> int:
    streams.log(
        "error",
        str(error.get("msg")),
        code=error.get("code"),
        command=environ.get("CNI_COMMAND", ""),
        container_id=environ.get("CNI_CONTAINERID", ""),
        ifname=environ.get("CNI_IFNAME", ""),
    )
    streams.write_json(out, error)
    return 1
