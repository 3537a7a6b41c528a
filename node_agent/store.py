"""The agent's durable state: SQLite in ``state_dir`` (WAL, ``synchronous=FULL``).

One connection, owned by one thread: every transaction is a function run on that
thread (:meth:`Store.transact`), so transactions never interleave and the event
loop never blocks on a disk flush; concurrent ones share a commit (group commit).
A transaction either commits completely or leaves nothing behind; an allocation
commits together with its ledger events in the outbox, and a release together
with its cooldown entries and events.

A transaction that is not ``durable`` commits without waiting for the disk (WAL,
``synchronous=NORMAL``): it survives the agent being killed, not a power cut, until
the next durable commit, whose flush of the WAL covers it. ADD uses this for its
allocation, which nobody hears of before the durable "wired" commit: one disk flush
per ADD instead of two (a flush costs about a millisecond here).

Tables::

    meta            key/value (schema version)
    blocks          cidr, pool, state (ready | releasing), claimed_at, empty_since
    pending_claims  request ids of block claims sent to IPAM but not yet recorded, and
                    the block IPAM answered (cidr) once it did
    attachments     (network, container_id, ifname) -> netns, host veth, pod, state
    addresses       ip -> attachment, pool, block          (ip is the primary key)
    cooling         ip -> until                            (recently released)
    outbox          seq (monotonic), event id, JSON body   (ledger events to send)
    dead_letters    events IPAM refused for good, kept for the operator
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from node_agent.errors import StoreError
from node_agent.queries import Queries

T = TypeVar("T")

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    cidr TEXT PRIMARY KEY,
    pool TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ready', 'releasing')),
    claimed_at REAL NOT NULL,
    empty_since REAL
);
CREATE TABLE IF NOT EXISTS pending_claims (
    request_id TEXT PRIMARY KEY,
    pool TEXT NOT NULL,
    created_at REAL NOT NULL,
    cidr TEXT
);
CREATE TABLE IF NOT EXISTS attachments (
    network TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ifname TEXT NOT NULL,
    netns TEXT NOT NULL,
    host_ifname TEXT NOT NULL UNIQUE,
    pod_namespace TEXT NOT NULL DEFAULT '',
    pod_name TEXT NOT NULL DEFAULT '',
    pod_uid TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('allocated', 'wired')),
    mtu INTEGER NOT NULL DEFAULT 0,
    mac TEXT NOT NULL DEFAULT '',
    host_mac TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    missing_since REAL,
    PRIMARY KEY (network, container_id, ifname)
);
CREATE TABLE IF NOT EXISTS addresses (
    ip TEXT PRIMARY KEY,
    network TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ifname TEXT NOT NULL,
    pool TEXT NOT NULL,
    block TEXT NOT NULL REFERENCES blocks (cidr),
    FOREIGN KEY (network, container_id, ifname)
        REFERENCES attachments (network, container_id, ifname) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS addresses_by_attachment ON addresses (network, container_id, ifname);
CREATE INDEX IF NOT EXISTS addresses_by_block ON addresses (block);
CREATE TABLE IF NOT EXISTS cooling (ip TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    event_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class Store:
    """The SQLite database of one agent; every public method is a transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flatnet-store")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[_Pending] = []
        self._synchronous = "FULL"
        self._pending_lock = threading.Lock()
        self._flush_scheduled = False
        self.fresh = False
        """True when this open created the database (nothing was stored before)."""

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fresh = not self.path.exists()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
        )
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        if found != SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{self.path}: schema {found}, this agent knows {SCHEMA_VERSION}")
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=True)

    # -- plumbing --------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    async def transact(self, fn: Callable[[Queries], T], *, durable: bool = True) -> T:
        """Run ``fn`` as one transaction on the store thread; its result once durable
        (once committed, when not ``durable``: see the module's docstring).

        Group commit: transactions that arrive while the thread is busy run together
        in one ``BEGIN IMMEDIATE`` ... ``COMMIT``, each inside a savepoint of its own,
        so a burst of 100 ADDs pays for a few disk flushes instead of 100. A function
        that raises is rolled back to its savepoint and gets its exception; the
        others still commit. Nobody hears of a result before the COMMIT returned.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._pending_lock:
            self._pending.append((fn, future, loop, durable))
            schedule = not self._flush_scheduled
            self._flush_scheduled = True
        if schedule:
            self._pool.submit(self._flush)
        try:
            return await future
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _flush(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
            self._flush_scheduled = False
        outcomes: list[tuple[bool, Any]] = []
        try:
            if self._conn is None:
                raise StoreError("the store is closed")
            conn = self._conn
            synchronous = "FULL" if any(durable for *_, durable in batch) else "NORMAL"
            if synchronous != self._synchronous:
                conn.execute(f"PRAGMA synchronous={synchronous}")
                self._synchronous = synchronous
            conn.execute("BEGIN IMMEDIATE")
            try:
                for fn, *_ in batch:
                    outcomes.append(_in_savepoint(conn, fn))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException as exc:  # the batch as a whole failed: everyone hears it
            outcomes = [(False, exc)] * len(batch)
        for (_, future, loop, _), (ok, value) in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, future, ok, value)


_Pending = tuple[Callable[[Queries], Any], asyncio.Future[Any], Any, bool]
"""A transaction waiting for the store thread: function, its future, its loop, durable."""


def _in_savepoint(conn: sqlite3.Connection, fn: Callable[[Queries], Any]) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT tx")
    try:
        result = fn(Queries(conn))
    except Exception as exc:
        conn.execute("ROLLBACK TO tx")
        conn.execute("RELEASE tx")
        return False, exc
    conn.execute("RELEASE tx")
    return True, result


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
