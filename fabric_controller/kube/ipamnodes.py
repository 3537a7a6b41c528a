"""``NodeRegistry`` over the controller's IPAM client."""

from __future__ import annotations

from pydantic import ValidationError

from fabric_controller.errors import Conflict, InvalidInput, NotFound
from fabric_controller.ipamclient import IpamClient
from fabric_controller.kube.errors import PermanentError, TemporaryError
from fabric_controller.kube.objects import NodeInfo
from ipam_service.schemas import NodeUpsert


class IpamNodes:
    def __init__(self, client: IpamClient) -> None:
        self.client = client

    async def register(self, node: NodeInfo) -> bool:
        if node.node_ip is None:
            raise PermanentError(f"node {node.name} has no InternalIP yet")
        existing = await self.client.get_node(node.name)
        if (
            existing is not None
            and existing.node_ip == node.node_ip
            and existing.labels == node.labels
        ):
            return False
        try:
            spec = NodeUpsert(
                node_ip=node.node_ip,
                labels=node.labels,
                asn=None if existing is None else existing.asn,
            )
        except ValidationError as exc:
            raise PermanentError(f"node {node.name} cannot be registered: {exc}") from exc
        try:
            await self.client.upsert_node(node.name, spec)
        except Conflict as exc:
            # typically the IP of a deleted node still inside its grace period
            raise TemporaryError(f"IPAM refused node {node.name}: {exc.detail}") from exc
        except InvalidInput as exc:
            raise PermanentError(f"IPAM refused node {node.name}: {exc.detail}") from exc
        return True

    async def release(self, name: str, *, reason: str) -> list[str] | None:
        try:
            node = await self.client.delete_node(name, reason=reason)
        except NotFound:
            return None
        return [str(block.cidr) for block in node.blocks]

    async def names(self) -> list[str]:
        return [node.name for node in await self.client.list_nodes()]
