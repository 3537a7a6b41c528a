"""The one-machine fabric lab: network namespaces, emulated ToRs (BIRD 2 or FRR 8.4), the
components run as processes (:class:`Fabric`: IPAM, node agents, pods through the CNI
executable), and the tools tests and benchmarks use to watch them. Standard library,
pydantic, httpx and the ``ip``/``birdc``/``vtysh`` commands only: no pyroute2 in the
command root, and no component imported (they are driven over HTTP, sockets and CLIs)."""

from flatnet.lab.bare import BareExabgp, BareNeighbor
from flatnet.lab.errors import LabCommandError, LabDaemonError, LabError, LabStateNotFound
from flatnet.lab.fabric import Fabric
from flatnet.lab.lab import Lab
from flatnet.lab.routewatch import RouteEvent, RouteWatch
from flatnet.lab.settings import LabPool, LabSettings, Uplink
from flatnet.lab.tor import BirdTor, FrrTor, kernel_routes

__all__ = [
    "BareExabgp",
    "BareNeighbor",
    "BirdTor",
    "Fabric",
    "FrrTor",
    "Lab",
    "LabCommandError",
    "LabDaemonError",
    "LabError",
    "LabPool",
    "LabSettings",
    "LabStateNotFound",
    "RouteEvent",
    "RouteWatch",
    "Uplink",
    "kernel_routes",
]
