"""`ContentFactory`: the content of an object version, as the class that
knows how to rebuild and move its chunks."""

from __future__ import annotations

import logging

from oio.blob.client import BlobClient
from oio.common import exceptions as exc
from oio.common.storage_method import STORAGE_METHODS
from oio.container.client import ContainerClient

from .content import Content
from .ec import ECContent
from .plain import PlainContent

LOGGER = logging.getLogger(__name__)


class ContentFactory:
    """Builds `PlainContent` or `ECContent` from meta2's description."""

    def __init__(self, conf: dict, container_client=None, blob_client=None,
                 logger=None, **kwargs):
        self.conf = conf
        self.logger = logger or LOGGER
        self.container_client = container_client or ContainerClient(
            conf, logger=self.logger, **kwargs)
        self.blob_client = blob_client or BlobClient(
            conf, logger=self.logger,
            connection_pool=self.container_client.pool_manager)

    def _names(self, container_id: str, account: str | None,
               container_name: str | None) -> tuple[str, str]:
        if account is not None and container_name is not None:
            return account, container_name
        props = self.container_client.container_get_properties(
            cid=container_id)
        system = props.get("system") or {}
        return system.get("sys.account"), system.get("sys.user.name")

    def _build(self, container_id: str, meta: dict, chunks: list[dict],
               account: str | None, container_name: str | None) -> Content:
        method = STORAGE_METHODS.load(meta.get("chunk_method") or "plain")
        account, container_name = self._names(container_id, account,
                                              container_name)
        cls = ECContent if method.ec else PlainContent
        return cls(self.conf, container_id, meta, chunks, method, account,
                   container_name, blob_client=self.blob_client,
                   container_client=self.container_client,
                   logger=self.logger)

    def get(self, container_id: str, content_id: str,
            account: str | None = None, container_name: str | None = None,
            **kwargs) -> Content:
        """The content `content_id` of container `container_id`;
        ContentNotFound when meta2 does not know it."""
        try:
            meta, chunks = self.container_client.content_locate(
                cid=container_id, content=content_id, properties=True,
                **kwargs)
        except exc.NotFound as err:
            raise exc.ContentNotFound(
                f"Content {container_id}/{content_id} not found: {err}"
            ) from err
        return self._build(container_id, meta, chunks, account,
                           container_name)

    def new(self, container_id: str, path: str, size: int, policy: str,
            account: str | None = None, container_name: str | None = None,
            **kwargs) -> Content:
        """A content of `size` bytes to create at `path` with storage
        `policy`: its ID, version and chunks (every metachunk) prepared by
        the proxy (content/prepare2), nothing written yet; `create` uploads
        and registers it."""
        meta, chunks = self.container_client.content_prepare(
            cid=container_id, path=path, size=size, stgpol=policy, **kwargs)
        return self._build(container_id, meta, chunks, account,
                           container_name)

    def get_by_path_and_version(self, container_id: str, path: str,
                                version=None, account: str | None = None,
                                container_name: str | None = None,
                                **kwargs) -> Content:
        try:
            meta, chunks = self.container_client.content_locate(
                cid=container_id, path=path, version=version,
                properties=True, **kwargs)
        except exc.NotFound as err:
            raise exc.ContentNotFound(
                f"Content {container_id}/{path} not found: {err}") from err
        return self._build(container_id, meta, chunks, account,
                           container_name)
