"""7.2's module of the item rebuild commands (`openio-admin chunk
rebuild`, `chunk distributed-rebuild`), for plugins and setup.cfg entry
points that name it. The commands live with the rawx ones in
`oio.cli.admin.blob_rebuild`."""

from oio.cli.admin.blob_rebuild import (
    ChunkDistributedRebuild,
    ChunkRebuild,
    ChunkRebuildCommand,
)

# 7.2's base of every item rebuild command; ours is the chunk one.
ItemRebuildCommand = ChunkRebuildCommand

__all__ = ["ChunkDistributedRebuild", "ChunkRebuild", "ChunkRebuildCommand",
           "ItemRebuildCommand"]
