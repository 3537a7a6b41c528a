"""Errors of the fabric lab.

Tree::

    LabError
    ├── LabCommandError      an ``ip``, ``birdc`` or ``vtysh`` call failed or timed out
    ├── LabDaemonError       a ToR daemon or ExaBGP did not start, answer or stop
    └── LabStateNotFound     no lab state file where one was expected
"""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises."""


class LabCommandError(LabError):
    """A command failed; ``argv`` and ``stderr`` say which and why."""

    def __init__(self, message: str, *, argv: list[str], stderr: str = "") -> None:
        super().__init__(message)
        self.argv = argv
        self.stderr = stderr


class LabDaemonError(LabError):
    """A daemon did not start, did not answer on its control socket, or would not stop."""


class LabStateNotFound(LabError):
    """There is no lab state file at the given path."""
