"""ORM models, one per module. Importing this package registers them all on ``Base``."""

from ipam_service.models.base import Base
from ipam_service.models.bgp_session import BgpSession
from ipam_service.models.block import Block
from ipam_service.models.lease import Lease
from ipam_service.models.ledger_event import LedgerEvent
from ipam_service.models.node import Node
from ipam_service.models.pool import Pool
from ipam_service.models.pool_cidr import PoolCidr
from ipam_service.models.pool_subnet import PoolSubnet
from ipam_service.models.reservation import Reservation

__all__ = [
    "Base",
    "BgpSession",
    "Block",
    "Lease",
    "LedgerEvent",
    "Node",
    "Pool",
    "PoolCidr",
    "PoolSubnet",
    "Reservation",
]
