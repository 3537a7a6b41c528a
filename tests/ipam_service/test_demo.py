"""``flatnet demo``, the IPAM-only walk-through, runs end to end and answers the audit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO_TIMEOUT = 180
FLATNET = [sys.executable, "-c", "from flatnet.cli import main; main()"]


def test_demo_runs_and_answers_who_owned_the_ip() -> None:
    # pgserver runs PostgreSQL as its own user when we are root: every parent must be
    # traversable, which pytest's private tmp_path is not.
    root = Path(tempfile.mkdtemp(prefix="flatnet-demo-test-"))
    root.chmod(0o755)
    try:
        done = subprocess.run(
            [*FLATNET, "demo", "--dir", str(root / "demo")],
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = dict(re.findall(r"who owned 10\.244\.0\.1 (.+?)\? (\S+) on", done.stdout))
    assert answers == {"5 minutes after web-1 started": "shop/web-1", "now": "shop/web-2"}
    assert "stopped the service" in done.stdout
