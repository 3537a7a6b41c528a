"""Fakes behind the agent's seams, for fast tests of its loops with a hand-held clock.

* :class:`FakeIpam` - the IPAM endpoints the agent calls, in memory, served through
  ``httpx.MockTransport`` so the real :class:`IpamClient` is exercised; it can be
  down, fail with 5xx, or refuse chosen ledger events.
* :class:`FakeNetlink` - the :class:`Netlink` methods the loops use, over a dict.
* :class:`Clock` - wall-clock seconds that move only when told.

The store is the real SQLite store in a temporary directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import httpx

from node_agent.podnet import (
    Gateways,
    IPAddress,
    IPNetwork,
    PodLink,
    PodWiring,
    RouteDiff,
    diff_networks,
)


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeIpam:
    down: bool = False
    fail_next: int = 0
    """Answer this many further requests with 503 (after applying a ledger batch)."""
    refuse_ips: set[str] = field(default_factory=set)
    blocks: dict[str, str] = field(default_factory=dict)
    """cidr -> pool, held by the node."""
    claims: dict[str, str] = field(default_factory=dict)
    """request id -> cidr."""
    claim_calls: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    """Event ids in the order they were applied (each at most once)."""
    ledger_calls: int = 0
    next_block: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path, method = request.url.path, request.method
        if method == "PUT" and path.startswith("/v1/nodes/"):
            return self._reply(200, {"name": path.rsplit("/", 1)[-1], "node_ip": "192.0.2.1",
                "labels": {}, "asn": None, "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z",
                "blocks": []})  # fmt: skip
        if method == "POST" and path.endswith("/blocks"):
            return self._claim(json.loads(request.content))
        if method == "DELETE" and "/blocks/" in path:
            cidr = path.split("/blocks/", 1)[1]
            self.released.append(cidr)
            self.blocks.pop(cidr, None)
            return self._reply(200, {})
        if method == "POST" and path == "/v1/ledger/events":
            return self._ledger(json.loads(request.content))
        return httpx.Response(404, json={"type": "urn:flatnet:problem:not-found"})

    def _reply(self, status: int, body: dict[str, Any]) -> httpx.Response:
        if self.fail_next:
            self.fail_next -= 1
            return httpx.Response(503, json={"type": "urn:flatnet:problem:internal"})
        return httpx.Response(status, json=body)

    def _claim(self, body: dict[str, Any]) -> httpx.Response:
        rid = body["request_id"]
        self.claim_calls.append(rid)
        if rid not in self.claims:
            cidr = f"10.9.{self.next_block}.0/28"
            self.next_block += 1
            self.claims[rid] = cidr
            self.blocks[cidr] = body["pool"]
        cidr = self.claims[rid]
        return self._reply(
            201,
            {
                "cidr": cidr,
                "pool": body["pool"],
                "node": "n1",
                "request_id": rid,
                "claimed_at": "2026-01-01T00:00:00Z",
                "released_at": None,
                "release_reason": "",
                "state": "held",
            },
        )

    def _ledger(self, body: dict[str, Any]) -> httpx.Response:
        self.ledger_calls += 1
        events = body["events"]
        for index, event in enumerate(events):
            if event["ip"] in self.refuse_ips:
                return httpx.Response(
                    422,
                    json={"type": "urn:flatnet:problem:invalid-input", "detail": "no",
                          "field": f"events[{index}].ip"},
                )  # fmt: skip
        fresh = [e["event_id"] for e in events if e["event_id"] not in self.applied]
        self.applied += fresh
        return self._reply(200, {"applied": len(fresh), "duplicates": len(events) - len(fresh)})


@dataclass
class FakeNetlink:
    links: dict[str, PodLink] = field(default_factory=dict)
    blackholes: set[IPNetwork] = field(default_factory=set)
    repaired: list[tuple[str, IPAddress]] = field(default_factory=list)
    unwired: list[str] = field(default_factory=list)
    gateways: Gateways = field(default_factory=Gateways)

    def host_ifname(self, container_id: str, ifname: str) -> str:
        from node_agent.podnet import host_ifname

        return host_ifname(container_id, ifname)

    def enable_forwarding(self) -> None:
        return None

    def list_pod_links(self) -> list[PodLink]:
        return sorted(self.links.values(), key=lambda link: link.host_ifname)

    def ensure_host_route(self, *, host_ifname: str, address: IPAddress) -> None:
        self.repaired.append((host_ifname, address))

    def unwire_pod(self, host_ifname: str) -> bool:
        self.unwired.append(host_ifname)
        return self.links.pop(host_ifname, None) is not None

    def remove_host_routes(self, host_ifname: str, addresses: Any) -> bool:
        return host_ifname in self.links

    def wire_pod(
        self,
        *,
        netns: str,
        ifname: str,
        host_ifname: str,
        addresses: Any,
        mtu: int,
        alias: str = "",
    ) -> PodWiring:
        addrs = tuple(addresses)
        self.links[host_ifname] = link(host_ifname, *addrs, alias=alias)
        return PodWiring(
            netns, ifname, 2, "02:00:00:00:00:02", host_ifname, 7, "02:00:00:00:00:07", mtu, addrs
        )

    def ensure_blackhole(self, cidr: IPNetwork) -> None:
        self.blackholes.add(cidr)

    def remove_blackhole(self, cidr: IPNetwork) -> None:
        self.blackholes.discard(cidr)

    def list_blackholes(self) -> list[IPNetwork]:
        return sorted(self.blackholes, key=str)

    def sync_blackholes(self, desired: Any) -> RouteDiff:
        want = set(desired)
        diff = diff_networks(want, self.blackholes)
        self.blackholes = want
        return diff

    def close(self) -> None:
        return None


def link(name: str, *addresses: IPAddress, alias: str = "") -> PodLink:
    return PodLink(
        host_ifname=name, ifindex=7, mac="02:00:00:00:00:07", mtu=1500, up=True,
        peer_ifindex=2, peer_netnsid=0, addresses=tuple(addresses), alias=alias,
    )  # fmt: skip


@dataclass
class RecordingAnnouncer:
    calls: list[tuple[str, str]] = field(default_factory=list)
    time_out: int = 0
    """Let this many further announces time out (ExaBGP did not acknowledge), as the
    speaker does: the call is recorded, then ``BgpTimeoutError`` is raised."""

    async def start(self) -> None:
        self.calls.append(("start", ""))

    async def stop(self) -> None:
        self.calls.append(("stop", ""))

    async def drain(self) -> None:
        self.calls.append(("drain", ""))

    async def undrain(self) -> None:
        self.calls.append(("undrain", ""))

    async def announce(self, prefix: IPNetwork) -> None:
        self.calls.append(("announce", str(prefix)))
        if self.time_out:
            from node_agent.errors import BgpTimeoutError

            self.time_out -= 1
            raise BgpTimeoutError(f"ExaBGP did not acknowledge announce {prefix}")

    async def withdraw(self, prefix: IPNetwork) -> None:
        self.calls.append(("withdraw", str(prefix)))

    async def sync(self, held: Any) -> None:
        self.calls.append(("sync", ",".join(sorted(str(p) for p in held))))

    def status(self) -> Any:
        from node_agent.announcer import AnnouncerStatus

        return AnnouncerStatus(running=True)


__all__ = ["Clock", "FakeIpam", "FakeNetlink", "RecordingAnnouncer", "ip_network", "link"]
