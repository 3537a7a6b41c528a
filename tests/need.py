"""Preconditions for privileged tests: skip locally, fail under ``CI=true``.

A test that needs root, a network namespace or a daemon calls :func:`need`. On a
developer machine that cannot provide it the test is skipped with the reason; in
CI (``CI=true``) the same condition fails the test, so CI never hides a test.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need(condition: bool, why: str) -> None:
    """Fail (CI) or skip (elsewhere) unless ``condition`` holds."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"precondition missing in CI: {why}")
    pytest.skip(why)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root")


def need_binary(path_or_name: str) -> str:
    """Return the absolute path of a program, or fail/skip when it is missing."""
    found = path_or_name if os.path.isabs(path_or_name) else shutil.which(path_or_name)
    need(found is not None and os.access(found, os.X_OK), f"needs {path_or_name}")
    assert found is not None
    return found
