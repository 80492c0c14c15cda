"""Where the rawx announces chunk creations and deletions (rawx.md §9).

The rawx calls exactly one notifier object; the default one drops events.
A beanstalkd notifier (a later issue) implements the same two methods.
"""

from __future__ import annotations

from typing import Protocol

EVENT_CHUNK_NEW = "storage.chunk.new"
EVENT_CHUNK_DELETED = "storage.chunk.deleted"

# The data fields of a chunk event, in the 7.2.0 order; all strings.
EVENT_FIELDS = (
    "volume_id", "volume_service_id", "full_path", "container_id",
    "content_path", "content_version", "content_id", "content_storage_policy",
    "metachunk_hash", "metachunk_size", "chunk_id", "content_chunk_method",
    "chunk_position", "chunk_hash", "chunk_size", "oio_version",
)
DELETE_EVENT_FIELDS = frozenset((
    "volume_id", "volume_service_id", "full_path", "container_id",
    "content_path", "content_version", "content_id", "chunk_id",
))


class ChunkNotifier(Protocol):
    """Receives chunk events. Must not block: queue and return."""

    enabled: bool

    def notify(self, event: str, data: dict[str, str], request_id: str) -> None:
        """Queue `event` ("storage.chunk.new"/"...deleted") with its `data`
        (EVENT_FIELDS, all strings); `request_id` is "-" when unknown."""

    async def close(self) -> None:
        """Flush what can be flushed and release connections."""


class NullNotifier:
    """The default: events are not sent anywhere."""

    enabled = False

    def notify(self, event: str, data: dict[str, str], request_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


def event_data(fields: dict[str, str], volume_id: str, volume_service_id: str,
               only: frozenset[str] | None = None) -> dict[str, str]:
    """The `data` object of a chunk event from a chunk's fields; the fields
    outside `only` (when given) are empty strings."""
    data = {}
    for key in EVENT_FIELDS:
        if only is not None and key not in only:
            data[key] = ""
        else:
            data[key] = fields.get(key, "")
    data["volume_id"] = volume_id
    data["volume_service_id"] = volume_service_id
    return data
