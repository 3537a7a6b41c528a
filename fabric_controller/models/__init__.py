"""ORM models of the controller, one per module; importing this package registers them."""

from fabric_controller.models.base import Base
from fabric_controller.models.fabric import Fabric
from fabric_controller.models.node_asn import NodeAsn
from fabric_controller.models.node_departure import NodeDeparture
from fabric_controller.models.rack import Rack
from fabric_controller.models.rack_subnet import RackSubnet
from fabric_controller.models.tor import Tor

__all__ = ["Base", "Fabric", "NodeAsn", "NodeDeparture", "Rack", "RackSubnet", "Tor"]
