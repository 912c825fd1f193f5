"""The dataset page's WebSocket: ingestion status from the database, then every published update."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from platform_web.core.sockets import SessionSocketMixin
from platform_web.datasets import live


@database_sync_to_async
def _current_status(user, dataset_id) -> dict | None:
    dataset = live.owned_dataset(user, dataset_id)
    return live.dataset_status(dataset) if dataset else None


class DatasetConsumer(SessionSocketMixin, AsyncJsonWebsocketConsumer):
    """`/ws/datasets/<uuid>/`: the owner's live ingestion progress of one dataset."""

    async def connect(self) -> None:
        self.dataset_id = self.scope["url_route"]["kwargs"]["dataset_id"]
        if await _current_status(self.scope.get("user"), self.dataset_id) is None:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.group = live.dataset_group(self.dataset_id)
        # Join before reading so no update falls between the read and the join.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.join_session()
        await self.send_json(await _current_status(self.scope.get("user"), self.dataset_id))

    async def disconnect(self, code) -> None:
        await self.leave_session()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dataset_progress(self, message) -> None:
        """An update published by ingestion (each carries the whole status, so order is all that matters)."""
        await self.send_json(message["status"])
