"""Every SQL statement of the agent, as typed methods over one open transaction.

:class:`Queries` is handed out by :meth:`node_agent.store.Store.transact`; it never
commits. Addresses and prefixes are stored as their canonical text.
"""

from __future__ import annotations

import json
import sqlite3
from ipaddress import ip_address, ip_network
from typing import Any

from cni.contract import PodRef
from node_agent.allocator import BlockUsage
from node_agent.podnet import IPAddress, IPNetwork
from node_agent.records import Address, Attachment, Block, Key, PendingClaim, State

_ATTACHMENT_COLUMNS = (
    "network, container_id, ifname, netns, host_ifname, pod_namespace, pod_name, pod_uid,"
    " state, mtu, mac, host_mac, created_at, missing_since"
)


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


class Queries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- meta ------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- blocks ----------------------------------------------------------------------

    def blocks(self) -> list[Block]:
        rows = self.conn.execute(
            "SELECT cidr, pool, state, claimed_at, empty_since FROM blocks ORDER BY cidr"
        ).fetchall()
        return [Block(ip_network(r[0]), r[1], r[2] == "ready", r[3], r[4]) for r in rows]

    def block_usage(self) -> list[BlockUsage]:
        used: dict[str, set[IPAddress]] = {}
        for ip, block in self.conn.execute("SELECT ip, block FROM addresses"):
            used.setdefault(block, set()).add(ip_address(ip))
        return [
            BlockUsage(
                cidr=b.cidr,
                pool=b.pool,
                used=frozenset(used.get(str(b.cidr), ())),
                ready=b.ready,
                empty_since=b.empty_since,
            )
            for b in self.blocks()
        ]

    def add_block(self, *, cidr: IPNetwork, pool: str, now: float) -> None:
        self.conn.execute(
            "INSERT INTO blocks (cidr, pool, state, claimed_at, empty_since)"
            " VALUES (?, ?, 'ready', ?, ?) ON CONFLICT (cidr) DO UPDATE SET state = 'ready'",
            (str(cidr), pool, now, now),
        )

    def set_block_state(self, cidr: IPNetwork, *, ready: bool) -> None:
        self.conn.execute(
            "UPDATE blocks SET state = ? WHERE cidr = ?",
            ("ready" if ready else "releasing", str(cidr)),
        )

    def block_in_use(self, cidr: IPNetwork) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM addresses WHERE block = ? LIMIT 1", (str(cidr),)
        ).fetchone()
        return row is not None

    def delete_block(self, cidr: IPNetwork) -> None:
        self.conn.execute("DELETE FROM blocks WHERE cidr = ?", (str(cidr),))

    def mark_blocks_empty(self, cidrs: set[IPNetwork], *, now: float) -> None:
        for cidr in cidrs:
            if not self.block_in_use(cidr):
                self.conn.execute(
                    "UPDATE blocks SET empty_since = ? WHERE cidr = ?", (now, str(cidr))
                )

    # -- pending claims --------------------------------------------------------------

    def add_pending_claim(self, *, request_id: str, pool: str, now: float) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO pending_claims (request_id, pool, created_at) VALUES (?, ?, ?)",
            (request_id, pool, now),
        )

    def pending_claims(self, *, pool: str | None = None) -> list[PendingClaim]:
        """Oldest first; only ``pool``'s when given."""
        params: tuple[str, ...] = () if pool is None else (pool,)
        where = "" if pool is None else " WHERE pool = ?"
        rows = self.conn.execute(
            f"SELECT request_id, pool, cidr FROM pending_claims{where}"
            " ORDER BY created_at, request_id",
            params,
        ).fetchall()
        return [
            PendingClaim(str(r[0]), str(r[1]), None if r[2] is None else ip_network(r[2]))
            for r in rows
        ]

    def set_pending_cidr(self, request_id: str, cidr: IPNetwork) -> None:
        self.conn.execute(
            "UPDATE pending_claims SET cidr = ? WHERE request_id = ?", (str(cidr), request_id)
        )

    def delete_pending_claim(self, request_id: str) -> None:
        self.conn.execute("DELETE FROM pending_claims WHERE request_id = ?", (request_id,))

    # -- attachments -----------------------------------------------------------------

    def attachment(self, key: Key) -> Attachment | None:
        row = self.conn.execute(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments"
            " WHERE network = ? AND container_id = ? AND ifname = ?",
            (key.network, key.container_id, key.ifname),
        ).fetchone()
        return None if row is None else self._attachment(row)

    def attachments(self, *, network: str | None = None) -> list[Attachment]:
        sql = f"SELECT {_ATTACHMENT_COLUMNS} FROM attachments"
        params: tuple[str, ...] = ()
        if network is not None:
            sql, params = sql + " WHERE network = ?", (network,)
        rows = self.conn.execute(sql + " ORDER BY network, container_id, ifname", params)
        return [self._attachment(r) for r in rows.fetchall()]

    def _attachment(self, row: tuple[Any, ...]) -> Attachment:
        key = Key(row[0], row[1], row[2])
        addrs = self.conn.execute(
            "SELECT ip, pool, block FROM addresses"
            " WHERE network = ? AND container_id = ? AND ifname = ?",
            (key.network, key.container_id, key.ifname),
        ).fetchall()
        addresses = sorted(
            (Address(ip_address(a[0]), a[1], ip_network(a[2])) for a in addrs),
            key=lambda a: (a.ip.version, int(a.ip)),
        )
        return Attachment(
            key=key,
            netns=row[3],
            host_ifname=row[4],
            pod=PodRef(namespace=row[5], name=row[6], uid=row[7]),
            state=State(row[8]),
            mtu=row[9],
            mac=row[10],
            host_mac=row[11],
            created_at=row[12],
            missing_since=row[13],
            addresses=tuple(addresses),
        )

    def insert_attachment(self, att: Attachment) -> None:
        k = att.key
        self.conn.execute(
            f"INSERT INTO attachments ({_ATTACHMENT_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *(k.network, k.container_id, k.ifname, att.netns, att.host_ifname),
                *(att.pod.namespace, att.pod.name, att.pod.uid, att.state.value),
                *(att.mtu, att.mac, att.host_mac, att.created_at, att.missing_since),
            ),
        )
        for a in att.addresses:
            self.conn.execute(
                "INSERT INTO addresses (ip, network, container_id, ifname, pool, block)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (str(a.ip), k.network, k.container_id, k.ifname, a.pool, str(a.block)),
            )
            self.conn.execute(
                "UPDATE blocks SET empty_since = NULL WHERE cidr = ?", (str(a.block),)
            )

    def update_attachment(self, key: Key, **fields: Any) -> None:
        allowed = {"state", "mtu", "mac", "host_mac", "netns", "missing_since"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        values = [v.value if isinstance(v, State) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(
            f"UPDATE attachments SET {assignments}"
            " WHERE network = ? AND container_id = ? AND ifname = ?",
            (*values, key.network, key.container_id, key.ifname),
        )

    def delete_attachment(self, key: Key) -> None:
        self.conn.execute(
            "DELETE FROM attachments WHERE network = ? AND container_id = ? AND ifname = ?",
            (key.network, key.container_id, key.ifname),
        )

    # -- cooldown --------------------------------------------------------------------

    def cooling(self) -> dict[IPAddress, float]:
        rows = self.conn.execute("SELECT ip, until FROM cooling").fetchall()
        return {ip_address(r[0]): float(r[1]) for r in rows}

    def cool(self, ip: IPAddress, *, until: float) -> None:
        self.conn.execute(
            "INSERT INTO cooling (ip, until) VALUES (?, ?)"
            " ON CONFLICT (ip) DO UPDATE SET until = excluded.until",
            (str(ip), until),
        )

    def purge_cooling(self, *, now: float) -> int:
        return self.conn.execute("DELETE FROM cooling WHERE until <= ?", (now,)).rowcount

    # -- outbox ----------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO outbox (event_id, body) VALUES (?, ?)", (body["event_id"], encode(body))
        )

    def peek(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.conn.execute(
            "SELECT seq, body FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def delete_through(self, seq: int) -> None:
        self.conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))

    def outbox_depth(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def dead_letter(self, seq: int, *, error: str, now: float) -> None:
        row = self.conn.execute("SELECT event_id, body FROM outbox WHERE seq = ?", (seq,))
        found = row.fetchone()
        if found is None:
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO dead_letters (event_id, body, error, at) VALUES (?, ?, ?, ?)",
            (found[0], found[1], error[:1000], now),
        )
        self.conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def dead_letter_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
