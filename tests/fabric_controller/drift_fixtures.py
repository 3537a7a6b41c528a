"""Fixtures of the drift tests: recorded ExaBGP lines and small builders.

The ExaBGP lines were recorded from ExaBGP 5.0.15 as the collector (AS 65100, passive,
add-path receive) peering with a BIRD 2.0.12 ToR (AS 65000) in network namespaces, with
node1 (AS 65001, 10.10.0.11 / fd00:10::11) and node2 (AS 65002, 10.10.0.12) announcing.
"""

# ruff: noqa: E501  (recorded lines are kept byte for byte)

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI

from fabric_controller.api import problems
from fabric_controller.auth import Tokens
from fabric_controller.config import ControllerSettings
from fabric_controller.drift import endpoints
from fabric_controller.drift.classifier import HeldBlock, IpamView, NodeRef, ReleasedBlock
from fabric_controller.drift.rib import BgpPath, SessionView, TorView
from fabric_controller.drift.service import DriftService
from fabric_controller.drift.settings import CollectorSettings, IPNetwork
from fabric_controller.errors import ControllerError
from fabric_controller.services.torconfig import with_collector
from fabric_controller.torconfig import Policy, TorConfigSpec, TorSide, bird
from flatnet.lab import BareExabgp, BareNeighbor, BirdTor, Lab, LabSettings
from flatnet.lab.shell import ip
from ipam_service.schemas import BlockRead, NodeRead, PoolRead
from node_agent.bgp.settings import BgpPeer, BgpSettings
from node_agent.bgp.speaker import ExabgpSpeaker

_T = TypeVar("_T")

# Session start, both nodes' paths (10.244.1.0/26 from both, via ADD-PATH), End-of-RIB for
# both families, then the answer to a route refresh of each family and the shutdown.
SESSION = [
    '{ "exabgp": "5.0.0", "time": 1795722279.215518, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 1, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "connected" } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2269914, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 2, "type": "negotiated", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2273836, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 3, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "up" } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2281835, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 4, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv4 unicast": { "10.10.0.11": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.2" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.2" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2717793, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 5, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65002]}} }, "announce": { "ipv4 unicast": { "10.10.0.12": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.5" }, { "nlri": "10.244.9.0/26", "path-information": "0.0.0.5" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2720907, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 6, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv4", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2724252, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 7, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv6 unicast": { "fd00:10::11": [ { "nlri": "fd00:244:1::/64", "path-information": "0.0.0.3" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.2726378, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 8, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    "done",
    "done",
    '{ "exabgp": "5.0.0", "time": 1795722279.3126304, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 9, "type": "refresh", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "route-refresh": { "afi": "ipv4", "safi": "unicast", "subtype": "begin" } } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.3559918, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 10, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv4 unicast": { "10.10.0.11": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.2" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.2" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.3563013, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 11, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65002]}} }, "announce": { "ipv4 unicast": { "10.10.0.12": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.5" }, { "nlri": "10.244.9.0/26", "path-information": "0.0.0.5" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.3564007, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 12, "type": "refresh", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "route-refresh": { "afi": "ipv4", "safi": "unicast", "subtype": "end" } } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.6857362, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 13, "type": "refresh", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "route-refresh": { "afi": "ipv6", "safi": "unicast", "subtype": "begin" } } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.6868951, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 14, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv6 unicast": { "fd00:10::11": [ { "nlri": "fd00:244:1::/64", "path-information": "0.0.0.3" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722279.6871686, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 15, "type": "refresh", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "route-refresh": { "afi": "ipv6", "safi": "unicast", "subtype": "end" } } }',
    '{ "exabgp": "5.0.0", "time": 1795722285.2888718, "host" : "vm", "pid" : 10592, "ppid" : 10590, "counter": 16, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "down", "reason": "stop, message [shutting down]" } }',
    '{ "exabgp": "5.0.0", "time": 1795722285.289098, "host" : "vm", "pid" : 10592, "ppid" : 10590, "type": "notification", "notification": "shutdown" }',
]

# The start of the session FLAP continues: node1's paths and End-of-RIB for both families.
FLAP_START = [
    '{ "exabgp": "5.0.0", "time": 1795722012.7702436, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 1, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "connected" } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.7815526, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 2, "type": "negotiated", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.7823281, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 3, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "up" } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.7831757, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 4, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv4 unicast": { "10.10.0.11": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.3" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.3" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.783401, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 5, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv4", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.7837086, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 6, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv6 unicast": { "fd00:10::11": [ { "nlri": "fd00:244:1::/64", "path-information": "0.0.0.2" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722012.7839015, "host" : "vm", "pid" : 4394, "ppid" : 4387, "counter": 7, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
]

# node1's IPv4 session disabled and enabled on the ToR (withdraw, re-announce), then the
# collector session shut down by the ToR with an RFC 8203 message and re-established.
FLAP = [
    '{ "exabgp": "5.0.0", "time": 1795722018.2933872, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 8, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "withdraw": { "ipv4 unicast": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.3" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.3" } ] } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722019.3717883, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 9, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv4 unicast": { "10.10.0.11": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.3" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.3" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722022.3014944, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 10, "type": "notification", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "notification": { "code": 6, "subcode": 2, "data": "0x53687574646F776E20436F6D6D756E69636174696F6E3A20226D61696E74656E616E636522", "message": "Shutdown Communication: \\"maintenance\\"" }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722022.3016236, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 11, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "down", "reason": "notification received (6,2)" } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1201167, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 12, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "connected" } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.120851, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 13, "type": "negotiated", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1229703, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 14, "type": "state", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "state": "up" } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1235359, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 15, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv4 unicast": { "10.10.0.11": [ { "nlri": "10.244.1.0/26", "path-information": "0.0.0.3" }, { "nlri": "10.244.1.64/26", "path-information": "0.0.0.3" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1669583, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 16, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv4", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1673331, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 17, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [65000, 65001]}} }, "announce": { "ipv6 unicast": { "fd00:10::11": [ { "nlri": "fd00:244:1::/64", "path-information": "0.0.0.2" } ] } } } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
    '{ "exabgp": "5.0.0", "time": 1795722028.1675012, "host" : "vm", "pid" : 4394, "ppid" : 1, "counter": 18, "type": "update", "neighbor": { "address": { "local": "10.10.0.100", "peer": "10.10.0.1" }, "asn": { "local": 65100, "peer": 65000 }, "router-id": "10.10.0.100" , "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "unicast" } }, "negotiated": { "message_size": 4096, "hold_time": 30, "asn4": true, "multisession": false, "operational": false, "refresh": "enhanced", "families": ["ipv4 unicast", "ipv6 unicast"], "nexthop": [], "add_path": {"send": [], "receive": ["ipv4 unicast", "ipv6 unicast"]} }  } }',
]

# -- builders for the pure tests ----------------------------------------------------------

T0 = 1_000_000.0
"""A fixed 'now' for the pure tests (seconds since the epoch)."""
POOL4 = ip_network("10.244.0.0/16")
POOL6 = ip_network("fd00:244::/32")


def node(
    name: str, ip: str, *, asn: int | None = None, rack: str | None = None, more: str = ""
) -> NodeRef:
    addresses = {ip_address(ip)} | ({ip_address(more)} if more else set())
    return NodeRef(name, frozenset(addresses), asn=asn, rack=rack)


def held(prefix: str, owner: str, *, at: float = T0 - 3600) -> HeldBlock:
    return HeldBlock(ip_network(prefix), owner, at)


def released(prefix: str, owner: str, *, at: float = T0 - 600) -> ReleasedBlock:
    return ReleasedBlock(ip_network(prefix), owner, at)


def path(
    prefix: str,
    hop: str,
    *,
    as_path: tuple[int, ...] = (65000, 65001),
    tor: str = "tor1",
    path_id: int = 1,
    seen: float = T0 - 1800,
) -> BgpPath:
    return BgpPath(
        tor, ip_address("10.10.0.1"), ip_network(prefix), path_id, ip_address(hop), as_path, seen
    )


def tor_view(
    *paths: BgpPath,
    name: str = "tor1",
    asn: int = 65000,
    rack: str | None = None,
    covered: dict[int, float] | None = None,
    gone: dict[str, float] | None = None,
) -> TorView:
    return TorView(
        name=name,
        asn=asn,
        rack=rack,
        state="up",
        sessions=(SessionView(ip_address("10.10.0.1"), "up", T0 - 7200, ""),),
        covered={4: T0 - 7000, 6: T0 - 7000} if covered is None else covered,
        paths=paths,
        gone={ip_network(p): t for p, t in (gone or {}).items()},
    )


def ipam(
    *,
    nodes: Iterable[NodeRef] = (),
    blocks: Iterable[HeldBlock] = (),
    releases: Iterable[ReleasedBlock] = (),
    former: Iterable[NodeRef] = (),
    pools: tuple[IPNetwork, ...] = (POOL4, POOL6),
) -> IpamView:
    by_prefix: dict[IPNetwork, list[ReleasedBlock]] = {}
    for r in sorted(releases, key=lambda r: -r.released_at):
        by_prefix.setdefault(r.prefix, []).append(r)
    return IpamView(
        pools=pools,
        nodes={n.name: n for n in nodes},
        held={b.prefix: b for b in blocks},
        released=by_prefix,
        former={n.name: n for n in former},
    )


# -- the end-to-end lab: flatnet.lab's BIRD ToR, plus a controller namespace -------------------

CTL_ADDRESS = ip_interface("10.10.0.100/24")
CTL_AS = 65100


def collector_protocol(settings: CollectorSettings, lab: Lab) -> str:
    """The ToR's collector session exactly as ``GET /v1/racks/{rack}/tor-config`` writes it
    for a BIRD ToR: the controller's own selection (:func:`with_collector`) and renderer,
    fed the settings the collector runs with. Appended to the lab ToR's permissive config,
    which (unlike a generated one) lets the tests announce rogue and stale blocks."""
    plan = lab.topology.tor(1)
    tor = TorSide("tor1", plan.asn, plan.ipv4.ip, plan.ipv4.ip, plan.ipv6.ip)
    policy = Policy(
        hold_time=9,
        keepalive_time=3,
        graceful_restart_time=120,
        max_prefixes=64,
        max_prefix_restart_minutes=1,
    )
    bare = TorConfigSpec(
        rack="r1",
        fabric="lab",
        peering="dynamic",
        asn_model="per-node",
        tor=tor,
        policy=policy,
        subnets=(plan.ipv4.network, plan.ipv6.network),
    )
    spec = with_collector(bare, settings, reveal=True)
    assert spec.collector is not None, spec.notes
    return "\n".join(bird.collector(spec.collector, asn=plan.asn)) + "\n"


@dataclass
class DriftLab:
    lab: Lab
    ctl_netns: str
    directory: Path
    speakers: dict[str, BareExabgp]

    @property
    def tor_address(self) -> IPv4Address:
        return self.lab.topology.tor(1).ipv4.ip

    def node_address(self, node: str) -> IPv4Address:
        return self.lab.topology.node(node).links[0].ipv4.ip

    def announce(self, node: str, prefix: str) -> None:
        self.speakers[node].send(
            f"neighbor {self.tor_address} announce route {prefix} next-hop self"
        )

    def withdraw(self, node: str, prefix: str) -> None:
        self.speakers[node].send(f"neighbor {self.tor_address} withdraw route {prefix}")

    def agent_speaker(self, node: str) -> ExabgpSpeaker:
        """The node agent's own ExaBGP speaker for ``node``, in the node's namespace."""
        plan = self.lab.topology.node(node)
        address = plan.links[0].ipv4.ip
        peer = BgpPeer(
            address=self.tor_address,
            peer_as=self.lab.topology.tor(1).asn,
            local_as=plan.asn,
            local_address=address,
            router_id=address,
            families=["ipv4 unicast"],
        )
        return ExabgpSpeaker(
            peers=[peer],
            settings=BgpSettings(first_sync_timeout=5.0),
            state_dir=self.directory / "agents" / node,
            node_addresses=[address],
            wrapper=["ip", "netns", "exec", plan.netns],
        )

    def collector_settings(self, **overrides: Any) -> CollectorSettings:
        fields: dict[str, Any] = {
            "enabled": True,
            "netns": self.ctl_netns,
            "state_dir": self.directory / "collector",
            "router_id": CTL_ADDRESS.ip,
            "local_as": CTL_AS,
            "listen_addresses": [CTL_ADDRESS.ip],
            "tors": [{"name": "tor1", "asn": 65000, "addresses": [str(self.tor_address)]}],
            "sync_timeout_seconds": 10.0,
            "restart_backoff_seconds": 0.2,
            "refresh_interval_seconds": 0,
            # short ToR timers: the session is back within a second of an ExaBGP restart
            "tor_connect_retry_seconds": 1,
            "tor_error_wait_seconds": 1,
            "tor_error_wait_max_seconds": 5,
        }
        return CollectorSettings.model_validate(fields | overrides)


def _wire_controller(lab: Lab, netns: str) -> None:
    """A controller namespace on the ToR's bridge, like a node without pod addresses."""
    tor = lab.topology.tor(1)
    timeout = lab.settings.command_timeout
    ip("netns", "add", netns, timeout=timeout)
    ip("-n", netns, "link", "set", "lo", "up", timeout=timeout)
    ip(
        "-n",
        tor.netns,
        "link",
        "add",
        "ctl",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        netns,
        timeout=timeout,
    )
    ip("-n", tor.netns, "link", "set", "ctl", "master", tor.bridge, "up", timeout=timeout)
    ip("-n", netns, "addr", "add", str(CTL_ADDRESS), "dev", "eth0", timeout=timeout)
    ip("-n", netns, "link", "set", "eth0", "up", timeout=timeout)


def _speaker(lab: Lab, node: str, directory: Path) -> BareExabgp:
    plan = lab.topology.node(node)
    link = plan.links[0]
    neighbor = BareNeighbor(
        peer=lab.topology.tor(1).ipv4.ip,
        local=link.ipv4.ip,
        router_id=link.ipv4.ip,
        local_as=plan.asn,
        peer_as=lab.topology.tor(1).asn,
        families=("ipv4",),
    )
    return BareExabgp(
        netns=plan.netns, directory=directory / node, neighbors=[neighbor], settings=lab.settings
    )


@contextlib.contextmanager
def drift_lab(
    root: Path, *, nodes: int = 2, bare: Iterable[str] | None = None
) -> Iterator[DriftLab]:
    """A BIRD ToR, ``nodes`` nodes, and a controller netns. The nodes named in ``bare``
    (default: all) get a bare ExaBGP session; the others are left for the agent's speaker.

    Everything is named with a random prefix and removed afterwards, by PID and by name.
    """
    settings = LabSettings(state_root=root / "lab", name_prefix="dft")
    lab = Lab.up(settings, nodes=nodes)
    ctl = f"{lab.topology.prefix}-ctl"
    out = DriftLab(lab=lab, ctl_netns=ctl, directory=root, speakers={})
    try:
        _wire_controller(lab, ctl)
        tor = lab.tor(1)
        assert isinstance(tor, BirdTor)
        tor.reconfigure(tor.conf.read_text() + collector_protocol(out.collector_settings(), lab))
        names = [n.name for n in lab.topology.nodes] if bare is None else list(bare)
        for name in names:
            speaker = _speaker(lab, name, root / "speakers")
            out.speakers[name] = speaker
            speaker.start()
        for speaker in out.speakers.values():
            speaker.wait_up(1, limit=20.0)
        yield out
    finally:
        for speaker in out.speakers.values():
            speaker.stop()
        ip("netns", "del", ctl, timeout=settings.command_timeout, check=False)
        lab.down()


# -- fakes behind the service's Protocols (IPAM reader, RIB source) ---------------------------


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def block_read(
    cidr: str, node: str, *, at: float = T0 - 3600, released_at: float | None = None
) -> BlockRead:
    return BlockRead(
        cidr=ip_network(cidr),
        pool="pods4" if ":" not in cidr else "pods6",
        node=node,
        request_id=f"r-{cidr}",
        claimed_at=_at(at),
        released_at=None if released_at is None else _at(released_at),
        release_reason="" if released_at is None else "released",
        state="held" if released_at is None else "released",
    )


def node_read(
    name: str, ip: str, *blocks: BlockRead, asn: int | None = None, rack: str | None = None
) -> NodeRead:
    labels = {} if rack is None else {"topology.flatnet.io/rack": rack}
    return NodeRead(
        name=name,
        node_ip=ip_address(ip),
        labels=labels,
        asn=asn,
        created_at=_at(T0 - 7200),
        updated_at=_at(T0 - 7200),
        last_seen_at=_at(T0 - 60),
        blocks=list(blocks),
    )


def pool_read(name: str, cidr: str, prefixlen: int) -> PoolRead:
    network = ip_network(cidr)
    return PoolRead(
        name=name,
        family=network.version,
        block_prefixlen=prefixlen,
        cidrs=[network],
        reservations=[],
        subnets=[],
        description="",
        created_at=_at(T0 - 86400),
    )


@dataclass
class FakeIpam:
    """An IpamReader over lists a test edits; counts the calls, can be made to fail."""

    pools: list[PoolRead] = field(default_factory=lambda: [pool_read("pods4", "10.244.0.0/16", 26)])
    nodes: list[NodeRead] = field(default_factory=list)
    released: list[BlockRead] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    failure: ControllerError | None = None

    async def list_pools(self) -> list[PoolRead]:
        return self._answer("pools", self.pools)

    async def list_nodes(self) -> list[NodeRead]:
        return self._answer("nodes", self.nodes)

    async def list_blocks(self, *, state: str = "held") -> list[BlockRead]:
        assert state == "released"
        return self._answer("released", self.released)

    def _answer(self, what: str, items: list[_T]) -> list[_T]:
        self.calls.append(what)
        if self.failure is not None:
            raise self.failure
        return list(items)


@dataclass
class StaticRib:
    """A RibSource whose ToR views a test sets; remembers the scope it was given."""

    views: list[TorView] = field(default_factory=lambda: [tor_view()])
    scope: list[IPNetwork] = field(default_factory=list)

    def rib(self) -> tuple[TorView, ...]:
        return tuple(self.views)

    def set_scope(self, cidrs: list[IPNetwork]) -> None:
        self.scope = list(cidrs)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def drift_app(
    service: DriftService | None, *, settings: ControllerSettings | None = None
) -> FastAPI:
    """The drift router on an app shaped like the controller's (problem+json, auth)."""
    app = FastAPI()
    app.state.settings = settings or ControllerSettings(auth="off", database_url="unused")
    app.state.tokens = Tokens.from_file(app.state.settings.tokens_file)
    app.state.drift = service
    problems.install(app)
    app.include_router(endpoints.router)
    return app
