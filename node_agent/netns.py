"""Entering network namespaces: netns handles, sockets and sysctls for the netlink adapter.

pyroute2's ``IPRoute(netns=...)`` forks a child process for each socket
(``pyroute2.netns.create_socket``) and creates the netns if it is missing
(``O_CREAT``). Instead, a short-lived thread ``setns()``-es into the target netns,
opens a NETLINK_ROUTE socket and exits; the socket stays bound to the netns it
was opened in and :mod:`node_agent.netlink` hands it to ``IPRoute(use_socket=...)``.
The thread dies in the foreign netns, so no pooled thread is ever left in the
wrong namespace. The same trick writes per-netns sysctls: ``/proc/sys/net``
resolves against the netns of the task that opens it.

This module needs no pyroute2: it deals in file descriptors, plain sockets and
``/proc``. Failures become the domain errors of :mod:`node_agent.errors` through
the same errno table as every other kernel call (``podnet.KERNEL_ERRORS``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from node_agent.errors import NetlinkError
from node_agent.podnet import kernel_error

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
_NETLINK_ROUTE = 0


@contextmanager
def os_errors(subject: str, what: str) -> Iterator[None]:
    """Re-raise an :class:`OSError` as the domain error about ``subject``."""
    try:
        yield
    except OSError as exc:
        raise kernel_error(subject, exc.errno or errno.EIO, what) from exc


def open_netns(path: str) -> int:
    """An ``O_CLOEXEC`` fd of the netns at ``path``; the caller closes it."""
    with os_errors("netns", f"open netns {path}"):
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def in_netns(fd: int | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a throwaway thread that has joined netns ``fd`` (None: here)."""
    if fd is None:
        return fn()
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="flatnet-setns", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]


def route_socket(fd: int | None, where: str) -> socket.socket:
    """A NETLINK_ROUTE socket bound to netns ``fd`` (None: here); the caller closes it."""
    with os_errors("netns", f"join netns {where}"):
        return in_netns(
            fd, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_ROUTE)
        )


@contextmanager
def pod_netns_fd(path: str, host_fd: int | None) -> Iterator[int]:
    """An fd of the pod netns at ``path``, refused if it is the node's netns; closed on exit."""
    fd = open_netns(path)
    try:
        # A path that resolves to the node's own netns (a hostNetwork sandbox,
        # a pid that already exited and got reused) must never be wired: the
        # "pod" end would land in the node's netns as eth0.
        pod = os.fstat(fd)
        host = os.fstat(host_fd) if host_fd is not None else os.stat("/proc/thread-self/ns/net")
        if (pod.st_dev, pod.st_ino) == (host.st_dev, host.st_ino):
            raise NetlinkError(f"netns {path} is the node's own network namespace")
        yield fd
    finally:
        os.close(fd)


def write_sysctls(fd: int | None, values: dict[str, str], *, missing_ok: bool = False) -> None:
    """Write ``values`` (dotted keys) under ``/proc/sys`` in netns ``fd`` (None: here)."""

    def write() -> None:
        for key, value in values.items():
            try:
                with open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
                    f.write(value)
            except FileNotFoundError:
                if not missing_ok:
                    raise

    with os_errors("sysctl", f"write {', '.join(values)}"):
        in_netns(fd, write)
