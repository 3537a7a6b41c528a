"""Database constraint violations as domain errors, in one table."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.exc import IntegrityError

from fabric_controller.errors import (
    AsnConflict,
    Conflict,
    ControllerError,
    DuplicateConflict,
    InvalidInput,
    SubnetOverlapConflict,
)

# constraint name -> (error, field, what it means)
VIOLATIONS: dict[str, tuple[type[ControllerError], str, str]] = {
    "uq_fabrics_name": (DuplicateConflict, "name", "a fabric of that name exists"),
    "uq_racks_name": (DuplicateConflict, "name", "a rack of that name exists"),
    "uq_racks_fabric_id_asn": (AsnConflict, "asn", "another rack of the fabric uses the ASN"),
    "ex_rack_subnets_node_overlap": (
        SubnetOverlapConflict,
        "subnets",
        "a subnet overlaps one of another rack",
    ),
    "ex_rack_subnets_pool_overlap": (
        SubnetOverlapConflict,
        "pool_subnets",
        "a pool subnet overlaps one of another rack",
    ),
    "uq_tors_name": (DuplicateConflict, "name", "a ToR of that name exists"),
    "uq_tors_address_v4": (DuplicateConflict, "address_v4", "another ToR has that address"),
    "uq_tors_address_v6": (DuplicateConflict, "address_v6", "another ToR has that address"),
    "uq_node_asns_fabric_id_asn": (AsnConflict, "asn", "the ASN is allocated to another node"),
    "fk_racks_fabric_id_fabrics": (Conflict, "name", "racks still belong to the fabric"),
}


def translate(exc: IntegrityError, *, prefix: str = "") -> ControllerError:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None) or ""
    detail = getattr(diag, "message_detail", None) or ""
    if name.startswith("ck_"):
        return InvalidInput(f"refused by the database check {name}: {detail}".rstrip(": "))
    error, field, meaning = VIOLATIONS.get(name, (Conflict, "", "the change conflicts"))
    text = f"{meaning} ({detail})" if detail else meaning
    return error(text, field=f"{prefix}{field}" if field else None)


@contextlib.asynccontextmanager
async def violations(*, prefix: str = "") -> AsyncIterator[None]:
    """Turn an IntegrityError raised inside the block into its domain error."""
    try:
        yield
    except IntegrityError as exc:
        raise translate(exc, prefix=prefix) from exc
