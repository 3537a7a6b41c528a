"""Which ASN may go where in a fabric, and the per-node ASN allocator. Pure.

Sessions between nodes and ToRs are always eBGP (as in the fabric lab): a ToR never
shares the ASN of the nodes it serves. The rules, each with the status it answers:

* an ASN in ``reserved`` (0, AS_TRANS, 65535, 2^32-1) is refused anywhere (422);
* per-rack model: a rack needs an ASN (422); its ToRs must use another one (422); no
  other rack and no ToR of the fabric may use the rack's ASN (409);
* per-node model: a rack has no ASN of its own (422); a ToR's ASN must lie outside the
  node range, where node ASNs come from (422);
* the node range must lie inside one private range (RFC 6996) and must keep every
  allocated node ASN and leave out every ToR ASN (409).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fabric_controller.errors import AsnConflict, AsnExhausted, InvalidInput

Holder = Literal["rack", "tor", "node"]


@dataclass(frozen=True)
class AsnUse:
    """An ASN in use in a fabric, by whom."""

    asn: int
    holder: Holder
    name: str


def check_not_reserved(asn: int, *, reserved: Iterable[int], field: str) -> None:
    if asn in set(reserved):
        raise InvalidInput(f"ASN {asn} is reserved and cannot be used", field=field)


def check_range(
    first: int, last: int, *, private: Sequence[tuple[int, int]], uses: Iterable[AsnUse]
) -> None:
    """A per-node range: inside one private range, holding every node ASN, no ToR ASN."""
    if first > last:
        raise InvalidInput(f"asn_range first {first} is above last {last}", field="asn_range")
    if not any(lo <= first and last <= hi for lo, hi in private):
        spans = ", ".join(f"{lo}-{hi}" for lo, hi in private)
        raise InvalidInput(
            f"asn_range {first}-{last} is not inside one private ASN range ({spans})",
            field="asn_range",
        )
    for use in uses:
        inside = first <= use.asn <= last
        if use.holder == "node" and not inside:
            raise AsnConflict(
                f"node {use.name} holds ASN {use.asn}, outside {first}-{last}", field="asn_range"
            )
        if use.holder != "node" and inside:
            raise AsnConflict(
                f"{use.holder} {use.name} uses ASN {use.asn}, inside {first}-{last}",
                field="asn_range",
            )


def check_rack_asn(
    *, model: str, rack: str, asn: int | None, uses: Iterable[AsnUse], field: str = "asn"
) -> None:
    """The ASN of a rack being created or changed (``uses`` excludes this rack itself)."""
    if model == "per-node":
        if asn is not None:
            raise InvalidInput(
                "the fabric allocates an ASN per node; a rack has no ASN of its own", field=field
            )
        return
    if asn is None:
        raise InvalidInput("the fabric uses one ASN per rack; give the rack's asn", field=field)
    for use in uses:
        if use.asn != asn:
            continue
        if use.holder == "tor" and use.name.startswith(f"{rack}/"):
            raise InvalidInput(
                f"conflicting ASNs: ToR {use.name.split('/', 1)[1]} of rack {rack} uses {asn};"
                " nodes and their ToR must be in different ASes (eBGP)",
                field=field,
            )
        raise AsnConflict(f"ASN {asn} is already used by {use.holder} {use.name}", field=field)


def check_tor_asn(
    *,
    tor: str,
    asn: int,
    rack_asn: int | None,
    node_range: tuple[int, int] | None,
    uses: Iterable[AsnUse],
    field: str = "asn",
) -> None:
    """The ASN of a ToR being added to a rack whose nodes use ``rack_asn`` or ``node_range``."""
    if rack_asn is not None and asn == rack_asn:
        raise InvalidInput(
            f"conflicting ASNs: ToR {tor} would share ASN {asn} with the rack's nodes;"
            " node sessions are eBGP",
            field=field,
        )
    if node_range is not None and node_range[0] <= asn <= node_range[1]:
        raise InvalidInput(
            f"conflicting ASNs: ToR {tor} ASN {asn} lies in the per-node range"
            f" {node_range[0]}-{node_range[1]}",
            field=field,
        )
    for use in uses:
        if use.asn == asn and use.holder in {"rack", "node"}:
            raise AsnConflict(
                f"conflicting ASNs: ASN {asn} is used by the nodes of {use.holder} {use.name}",
                field=field,
            )


def free_asns(first: int, last: int, *, taken: Iterable[int], count: int) -> list[int]:
    """The ``count`` lowest ASNs in ``first..last`` that are not in ``taken``."""
    used = {a for a in taken if first <= a <= last}
    found: list[int] = []
    candidate = first
    while len(found) < count and candidate <= last:
        if candidate not in used:
            found.append(candidate)
        candidate += 1
    if len(found) < count:
        raise AsnExhausted(
            f"the range {first}-{last} has {len(found)} free ASNs, {count} needed",
            field="asn_range",
        )
    return found
