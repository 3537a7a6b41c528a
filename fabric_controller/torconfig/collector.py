"""The ToR's side of the controller's route collector, from the collector's settings. Pure.

The collector (:mod:`fabric_controller.drift`) is an ExaBGP in passive mode with one
``neighbor`` per address listed for the ToR in ``collector.tors``, listening on the
collector's address of that family. So the ToR config gets one session per such address,
dialling the collector's listen address from exactly that address, with the ASNs the
collector expects. A ToR the collector does not list (or lists with another ASN) gets no
session: it could never come up. The header says why instead.

With a single session, both families travel on it (multiprotocol BGP, the fabric lab's
layout); with a session per family (a dual-stack collector), each carries its own, so no
path reaches the collector twice.
"""

from __future__ import annotations

from fabric_controller.drift.settings import CollectorSettings, TorPeer
from fabric_controller.torconfig.spec import CollectorSession, CollectorSide, Family, TorSide

VERSIONS: dict[str, Family] = {"ipv4 unicast": 4, "ipv6 unicast": 6}


def collector_peer(settings: CollectorSettings, tor: TorSide) -> tuple[TorPeer | None, str]:
    """The collector's entry for ``tor``, or None and the reason it gets no session."""
    found = next((t for t in settings.tors if t.name == tor.name), None)
    if found is None:
        return None, (
            f"no route collector session: ToR {tor.name} is not among the collector's ToRs"
            " (collector.tors)"
        )
    if found.asn != tor.asn:
        return None, (
            f"no route collector session: collector.tors gives ToR {tor.name} AS {found.asn},"
            f" the topology AS {tor.asn}"
        )
    return found, ""


def collector_side(
    settings: CollectorSettings,
    *,
    peer: TorPeer,
    families: tuple[Family, ...],
    md5_password: str | None,
) -> CollectorSide | None:
    """The sessions ``peer`` (the ToR, as the collector knows it) opens to the collector,
    carrying the ``families`` the ToR peers in; None when no session has a family to carry."""
    wanted = tuple(
        f for f in families if any(VERSIONS.get(name) == f for name in settings.families)
    )
    pairs = [
        (listen, local)
        for local in peer.addresses
        for listen in settings.listen_addresses
        if listen.version == local.version
    ]
    sessions = []
    for listen, local in pairs:
        carried = wanted if len(pairs) == 1 else tuple(f for f in wanted if f == local.version)
        if carried:
            sessions.append(CollectorSession(address=listen, local=local, families=carried))
    if not sessions:
        return None
    return CollectorSide(
        asn=settings.local_as,
        port=settings.listen_port,
        hold_time=settings.hold_time,
        connect_retry=settings.tor_connect_retry_seconds,
        error_wait=(settings.tor_error_wait_seconds, settings.tor_error_wait_max_seconds),
        multihop=settings.tor_multihop,
        sessions=tuple(sessions),
        md5_password=md5_password,
    )
