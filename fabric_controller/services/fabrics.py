"""Fabrics: the ASN model, the per-node ASN range and the BGP policy of node sessions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from fabric_controller import asnrules
from fabric_controller.config import ControllerSettings
from fabric_controller.errors import FabricNotFound, InUseConflict, InvalidInput
from fabric_controller.models import Fabric
from fabric_controller.repositories.fabrics import FabricRepository
from fabric_controller.schemas import (
    AsnRange,
    BgpPolicyIn,
    BgpPolicyRead,
    FabricCreate,
    FabricRead,
    FabricUpdate,
)
from fabric_controller.services.constraints import violations

TIMERS = ("hold_time", "keepalive_time", "graceful_restart_time", "max_prefixes")


def fabric_read(fabric: Fabric) -> FabricRead:
    span = None
    if fabric.asn_first is not None and fabric.asn_last is not None:
        span = AsnRange(first=fabric.asn_first, last=fabric.asn_last)
    return FabricRead(
        name=fabric.name,
        asn_model=fabric.asn_model,
        asn_range=span,
        bgp=BgpPolicyRead.model_validate(fabric, from_attributes=True),
        description=fabric.description,
        created_at=fabric.created_at,
        updated_at=fabric.updated_at,
    )


def apply_policy(fabric: Fabric, policy: BgpPolicyIn) -> None:
    """Copy the fields the request set; check the result as a whole."""
    for name in TIMERS:
        value = getattr(policy, name)
        if value is not None:
            setattr(fabric, name, value)
    if policy.md5_password_file is not None and policy.md5_secret_ref is not None:
        raise InvalidInput(
            "give md5_password_file or md5_secret_ref, not both", field="bgp.md5_secret_ref"
        )
    if policy.clear_md5 or policy.md5_password_file or policy.md5_secret_ref:
        fabric.md5_password_file = None
        fabric.md5_secret_ref = None
    if policy.md5_password_file is not None:
        fabric.md5_password_file = str(policy.md5_password_file)
    if policy.md5_secret_ref is not None:
        fabric.md5_secret_ref = policy.md5_secret_ref
    if fabric.keepalive_time * 3 > fabric.hold_time:
        raise InvalidInput(
            f"keepalive_time {fabric.keepalive_time} must be at most a third of hold_time"
            f" {fabric.hold_time}",
            field="bgp.keepalive_time",
        )


class FabricService:
    def __init__(self, session: AsyncSession, settings: ControllerSettings) -> None:
        self.repo = FabricRepository(session)
        self.settings = settings

    async def row(self, name: str, *, lock: bool = False) -> Fabric:
        fabric = await self.repo.get(name, lock=lock)
        if fabric is None:
            raise FabricNotFound(f"fabric {name!r} does not exist", field="fabric")
        return fabric

    async def row_by_id(self, fabric_id: int, *, lock: bool = False) -> Fabric:
        fabric = await self.repo.get_by_id(fabric_id, lock=lock)
        if fabric is None:
            raise FabricNotFound(f"fabric {fabric_id} does not exist", field="fabric")
        return fabric

    async def create(self, spec: FabricCreate) -> FabricRead:
        defaults = self.settings.bgp
        fabric = Fabric(name=spec.name, asn_model=spec.asn_model, description=spec.description)
        for name in TIMERS:
            setattr(fabric, name, getattr(defaults, name))
        apply_policy(fabric, spec.bgp)
        if spec.asn_model == "per-node":
            span = spec.asn_range or AsnRange(first=defaults.asn_first, last=defaults.asn_last)
            self._check_range(span, [])
            fabric.asn_first, fabric.asn_last = span.first, span.last
        elif spec.asn_range is not None:
            raise InvalidInput("asn_range applies to the per-node model only", field="asn_range")
        async with violations():
            return fabric_read(await self.repo.add(fabric))

    async def update(self, name: str, patch: FabricUpdate) -> FabricRead:
        fabric = await self.row(name, lock=True)
        if patch.bgp is not None:
            apply_policy(fabric, patch.bgp)
        if patch.asn_range is not None:
            if fabric.asn_model != "per-node":
                raise InvalidInput(
                    "asn_range applies to the per-node model only", field="asn_range"
                )
            self._check_range(patch.asn_range, await self.repo.asn_uses(fabric.id))
            fabric.asn_first, fabric.asn_last = patch.asn_range.first, patch.asn_range.last
        if patch.description is not None:
            fabric.description = patch.description
        async with violations(prefix="bgp."):
            await self.repo.touch(fabric)
        return fabric_read(fabric)

    def _check_range(self, span: AsnRange, uses: list[asnrules.AsnUse]) -> None:
        asnrules.check_range(
            span.first, span.last, private=self.settings.private_asn_ranges, uses=uses
        )

    async def get(self, name: str) -> FabricRead:
        return fabric_read(await self.row(name))

    async def page(self, *, after: str | None, limit: int) -> list[FabricRead]:
        return [fabric_read(f) for f in await self.repo.page(after=after, limit=limit)]

    async def delete(self, name: str) -> None:
        fabric = await self.row(name, lock=True)
        racks = await self.repo.rack_count(fabric.id)
        if racks:
            raise InUseConflict(f"fabric {name!r} still has {racks} racks", field="name")
        await self.repo.delete(fabric)
