"""The API process of a bare ExaBGP: FIFO lines to stdout, every line logged with a time.

Standard library only; ExaBGP runs it as ``python -I bare_process.py FIFO LOG``. It is
the "no agent code" reference of the benchmarks and the way tests inject routes a
node agent would never announce. stdout carries commands only. The log has one line
per event: ``<time.time()> OUT <command>`` just before a command is written, and
``<time.time()> IN <line>`` for each ack or JSON event from ExaBGP.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def main() -> int:
    fifo, log_path = sys.argv[1], sys.argv[2]
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    def note(direction: str, text: str) -> None:
        with lock:
            log.write(f"{time.time():.6f} {direction} {text}\n")

    def read_exabgp() -> None:  # always drained: a full pipe would freeze ExaBGP
        for line in sys.stdin:
            note("IN", line.rstrip("\n"))
        os._exit(0)

    threading.Thread(target=read_exabgp, daemon=True).start()
    # O_RDWR: opening never blocks and the FIFO never reports EOF between writers.
    with os.fdopen(os.open(fifo, os.O_RDWR), "r") as commands:
        for line in commands:
            command = line.strip()
            if not command:
                continue
            note("OUT", command)
            sys.stdout.write(command + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
