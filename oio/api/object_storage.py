"""ObjectStorageApi: containers and objects of a namespace, as the seed
describes it (shared/seed/oio-python-api-7.x.txt)."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oio.api.io import group_metachunks, object_stream, plan_reads
from oio.api.replication import ReplicatedMetachunkWriter, chunk_headers
from oio.blob.client import BlobClient
from oio.common import exceptions as exc
from oio.common.configuration import load_namespace_conf
from oio.common.http_urllib3 import get_pool_manager
from oio.common.storage_method import guess_storage_method
from oio.common.utils import cid_from_name, request_id
from oio.container.client import ContainerClient

WRITE_BLOCK = 1024 * 1024
PROXY_KEYWORDS = ("headers", "connection_timeout", "read_timeout",
                  "write_timeout", "deadline", "reqid", "admin_mode")


def _proxy_kwargs(kwargs: dict) -> dict:
    return {k: kwargs[k] for k in PROXY_KEYWORDS if k in kwargs}


def handle_container_not_found(func):
    @functools.wraps(func)
    def wrapper(self, account, container, *args, **kwargs):
        try:
            return func(self, account, container, *args, **kwargs)
        except exc.NotFound as err:
            raise exc.NoSuchContainer(err) from None
    return wrapper


def handle_object_not_found(func):
    @functools.wraps(func)
    def wrapper(self, account, container, obj, *args, **kwargs):
        try:
            return func(self, account, container, obj, *args, **kwargs)
        except exc.NotFound as err:
            if err.status in (406, 431):
                raise exc.NoSuchContainer(err) from None
            raise exc.NoSuchObject(err) from None
    return wrapper


class _Source:
    """A readable over a path, file object, bytes, str or iterable of bytes."""

    def __init__(self, file_or_path=None, data=None):
        self._close = None
        self._pending = b""
        self._iter = None
        if file_or_path is not None:
            if isinstance(file_or_path, (str, os.PathLike)):
                self._file = open(file_or_path, "rb")  # noqa: SIM115
                self._close = self._file.close
            else:
                self._file = file_or_path
        elif isinstance(data, str):
            self._file = io.BytesIO(data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self._file = io.BytesIO(bytes(data))
        elif data is not None:
            self._file = None
            self._iter = iter(data)
        else:
            raise exc.MissingData("No data to upload")

    def remaining(self) -> int | None:
        """Bytes left when the source knows it (bytes, regular files)."""
        if self._iter is not None:
            return None
        try:
            if isinstance(self._file, io.BytesIO):
                return len(self._file.getbuffer()) - self._file.tell()
            st = os.fstat(self._file.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            return st.st_size - self._file.tell()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None

    def read(self, size: int) -> bytes:
        if self._iter is None:
            try:
                block = self._file.read(size)
            except OSError as err:
                raise exc.SourceReadError(str(err)) from err
            return block.encode("utf-8") if isinstance(block, str) else block
        out = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while have < size:
            try:
                part = next(self._iter)
            except StopIteration:
                break
            if isinstance(part, str):
                part = part.encode("utf-8")
            if part:
                out.append(part)
                have += len(part)
        block = b"".join(out)
        if len(block) > size:
            block, self._pending = block[:size], block[size:]
        return block

    def close(self) -> None:
        if self._close:
            self._close()


class ObjectStorageApi:
    """The Object Storage API: containers and objects through oio-proxy,
    data straight to and from the rawx services."""

    EXTRA_KEYWORDS = ("chunk_checksum_algo", "autocreate", "chunk_buffer_min",
                      "chunk_buffer_max", "cache", "tls")

    def __init__(self, namespace: str, logger=None, perfdata=None,
                 endpoint: str | None = None, **kwargs: Any):
        self.namespace = namespace
        self.logger = logger
        self.perfdata = perfdata
        conf = {"namespace": namespace}
        if endpoint is None:
            endpoint = load_namespace_conf(namespace)["proxy"]
        self.pool_manager = get_pool_manager(
            pool_connections=kwargs.get("pool_connections", 64),
            pool_maxsize=kwargs.get("pool_maxsize", 32))
        self.container = ContainerClient(conf, endpoint=endpoint,
                                         pool_manager=self.pool_manager,
                                         **kwargs)
        self.blob_client = BlobClient(pool_manager=self.pool_manager)
        self.connection_timeout = kwargs.get("connection_timeout")
        self.read_timeout = kwargs.get("read_timeout")
        self.write_timeout = kwargs.get("write_timeout")
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="objmd5")
        self._io = ThreadPoolExecutor(2, thread_name_prefix="prepare")

    @property
    def proxy_client(self) -> ContainerClient:
        return self.container

    def resolve_cid(self, cid: str, **kwargs) -> tuple[str, str]:
        raise exc.OioException("resolve_cid needs the account service "
                               "(not implemented yet)")

    # Containers ------------------------------------------------------------
    def container_create(self, account: str, container: str,
                         properties: dict | None = None,
                         system: dict | None = None, **kwargs) -> bool:
        return self.container.container_create(
            account, container, properties=properties, system=system,
            **_proxy_kwargs(kwargs))

    @handle_container_not_found
    def container_show(self, account: str, container: str, **kwargs) -> dict:
        return self.container.container_show(account, container,
                                             **_proxy_kwargs(kwargs))

    @handle_container_not_found
    def container_get_properties(self, account: str, container: str,
                                 properties=None, **kwargs) -> dict:
        return self.container.container_get_properties(
            account, container, properties=properties, **_proxy_kwargs(kwargs))

    @handle_container_not_found
    def container_set_properties(self, account: str, container: str,
                                 properties=None, clear=False, system=None,
                                 **kwargs) -> None:
        self.container.container_set_properties(
            account, container, properties=properties, clear=clear,
            system=system, **_proxy_kwargs(kwargs))

    @handle_container_not_found
    def container_del_properties(self, account: str, container: str,
                                 properties=None, **kwargs) -> None:
        self.container.container_del_properties(
            account, container, properties=properties, **_proxy_kwargs(kwargs))

    @handle_container_not_found
    def container_delete(self, account: str, container: str, **kwargs) -> None:
        self.container.container_delete(account, container,
                                        **_proxy_kwargs(kwargs))

    # Objects: writes -------------------------------------------------------
    def object_create(self, account: str, container: str, *args, **kwargs):
        """(chunks, size, md5) of what has been uploaded."""
        return self.object_create_ext(account, container, *args, **kwargs)[:3]

    @handle_container_not_found
    def object_create_ext(self, account: str, container: str,
                          file_or_path=None, data=None, etag=None,
                          obj_name=None, mime_type=None, metadata=None,
                          policy=None, key_file=None, append=False,
                          properties=None, **kwargs):
        """(chunks, size, md5, metadata) of the object written."""
        if file_or_path is not None and data is not None:
            raise exc.OioException("Pass file_or_path or data, not both")
        if obj_name is None:
            if isinstance(file_or_path, (str, os.PathLike)):
                obj_name = os.path.basename(file_or_path)
            else:
                obj_name = getattr(file_or_path, "name", None)
        if not obj_name:
            raise exc.MissingName("No name for the object has been specified")
        if isinstance(file_or_path, (str, os.PathLike)) and \
                not os.path.isfile(file_or_path):
            raise exc.FileNotFound(f"File {file_or_path} not found")
        properties = dict(properties or metadata or {})
        source = _Source(file_or_path, data)
        try:
            return self._upload(account, container, obj_name, source, etag=etag,
                                mime_type=mime_type, policy=policy,
                                properties=properties, append=append, **kwargs)
        finally:
            source.close()

    def _upload(self, account, container, obj_name, source, etag, mime_type,
                policy, properties, append, **kwargs):
        pkw = _proxy_kwargs(kwargs)
        reqid = pkw.setdefault("reqid", request_id("create-"))
        autocreate = kwargs.get("autocreate", True)
        cid = cid_from_name(account, container)
        meta, chunks, props = self.container.content_prepare(
            account, container, obj_name, size=1, policy=policy, position=0,
            **pkw)
        chunk_size = int(meta.get("chunk_size") or 0)
        if chunk_size <= 0:
            raise exc.OioException("The proxy did not give a chunk size")
        method = guess_storage_method(meta["chunk_method"])
        if method.ec:
            raise exc.OioException("Erasure-coded uploads are not supported yet "
                                   f"(policy {meta['policy']})")
        written: list[dict] = []
        writers: list[ReplicatedMetachunkWriter] = []
        obj_md5 = None
        pending_hash = None
        next_prepare = None
        size = 0
        position = 0

        def prepare(pos):
            return self.container.content_prepare(
                account, container, obj_name, size=1, policy=policy,
                position=pos, version=meta["version"], **pkw)

        def collect(writer):
            try:
                written.extend(writer.finish())
            finally:
                written.extend(c for c in writer.written if c not in written)

        try:
            while True:
                if position > 0:
                    _, chunks, more = (next_prepare.result() if next_prepare
                                       else prepare(position))
                    props.update(more)
                for chunk in chunks:
                    chunk["pos"] = str(position)
                left = source.remaining()
                # Ask for the next metachunk's rawx while this one streams.
                next_prepare = None
                if left is None or left > chunk_size:
                    next_prepare = self._io.submit(prepare, position + 1)
                writer = ReplicatedMetachunkWriter(
                    chunks, method,
                    lambda c: chunk_headers(meta, account, container, cid, c,
                                            reqid),
                    self.pool_manager, self.connection_timeout,
                    self.write_timeout,
                    size_hint=None if left is None else min(left, chunk_size))
                writers.append(writer)
                writer.start()
                got = 0
                while got < chunk_size:
                    block = source.read(min(WRITE_BLOCK, chunk_size - got))
                    if not block:
                        break
                    if obj_md5 is not None:
                        # The object hash runs beside the chunk hash
                        # (hashlib releases the GIL): one pass per core.
                        if pending_hash is not None:
                            pending_hash.result()
                        pending_hash = self._hasher.submit(obj_md5.update,
                                                           block)
                    writer.write(block)
                    got += len(block)
                writer.end()
                if obj_md5 is None:
                    # The first metachunk's hash is the object's so far.
                    obj_md5 = writer.md5.copy()
                size += got
                position += 1
                # Replies of a metachunk (the rawx fsync) are awaited while
                # the next one streams; at most two in flight.
                while len(writers) > 1:
                    collect(writers.pop(0))
                if got < chunk_size:
                    break
                # A full metachunk: peek whether data remains.
                nxt = source.read(1)
                if not nxt:
                    break
                source = _Prepend(nxt, source)
            while writers:
                collect(writers.pop(0))
            if pending_hash is not None:
                pending_hash.result()
            md5 = obj_md5.hexdigest() if obj_md5 else hashlib.md5().hexdigest()
            if etag and etag.lower() != md5:
                raise exc.EtagMismatch(f"given etag {etag} != computed {md5}")
            body = {"chunks": written,
                    "properties": dict(props, **properties),
                    "container_properties": kwargs.get("container_properties")}
            headers = dict(pkw.pop("headers", None) or {})
            self.container.content_create(
                account, container, obj_name, size=size, checksum=md5,
                data=body, content_id=meta["id"], stgpol=meta["policy"],
                version=meta["version"], mime_type=mime_type,
                chunk_method=meta["chunk_method"], append=append,
                autocreate=autocreate, headers=headers, **pkw)
        except BaseException:
            for writer in writers:
                writer.abort()
                written.extend(writer.written)
            self._delete_chunks(written, reqid)
            raise
        meta.update(size=size, length=size, hash=md5.upper(),
                    properties=properties, container_id=cid, ns=self.namespace)
        return written, size, md5, meta

    def _delete_chunks(self, chunks: list[dict], reqid: str) -> None:
        """Best effort: an object that failed must not leave its chunks."""
        for chunk in chunks:
            try:
                self.blob_client.chunk_delete(
                    chunk.get("real_url") or chunk["url"], reqid=reqid)
            except exc.OioException:
                pass

    # Objects: reads --------------------------------------------------------
    @handle_object_not_found
    def object_locate(self, account: str, container: str, obj: str,
                      version=None, chunk_info=False, properties=True,
                      **kwargs):
        meta, chunks = self.container.content_locate(
            account, container, obj, version=version, properties=properties,
            **_proxy_kwargs(kwargs))
        meta["container_id"] = cid_from_name(account, container)
        meta["ns"] = self.namespace
        return meta, chunks

    @handle_object_not_found
    def object_fetch(self, account: str, container: str, obj: str,
                     version=None, ranges=None, key_file=None,
                     properties=True, **kwargs):
        """(metadata, stream of bytes)."""
        pkw = _proxy_kwargs(kwargs)
        reqid = pkw.setdefault("reqid", request_id("fetch-"))
        meta, chunks = self.container.content_locate(
            account, container, obj, version=version, properties=properties,
            **pkw)
        meta["container_id"] = cid_from_name(account, container)
        meta["ns"] = self.namespace
        method = guess_storage_method(meta.get("chunk_method") or "plain")
        if method.ec:
            raise exc.OioException("Erasure-coded reads are not supported yet")
        plan = plan_reads(group_metachunks(chunks), ranges)
        stream = object_stream(self.pool_manager, plan, reqid,
                               connection_timeout=self.connection_timeout,
                               read_timeout=self.read_timeout)
        return meta, stream

    @handle_object_not_found
    def object_get_properties(self, account: str, container: str, obj: str,
                              version=None, **kwargs) -> dict:
        return self.container.content_get_properties(
            account, container, obj, version=version, **_proxy_kwargs(kwargs))

    object_show = object_get_properties

    def object_head(self, account: str, container: str, obj: str,
                    trust_level: int = 0, **kwargs) -> bool:
        if trust_level == 0:
            try:
                self.container.content_get_properties(
                    account, container, obj, version=kwargs.get("version"),
                    **_proxy_kwargs(kwargs))
                return True
            except exc.NotFound:
                return False
        if trust_level == 1:
            raise NotImplementedError("trust_level 1")
        if trust_level == 2:
            try:
                _, chunks = self.container.content_locate(
                    account, container, obj, version=kwargs.get("version"),
                    properties=False, **_proxy_kwargs(kwargs))
                for chunk in chunks:
                    self.blob_client.chunk_head(chunk.get("real_url")
                                                or chunk["url"])
                return True
            except exc.NotFound:
                return False
        raise ValueError(f"Invalid trust_level {trust_level}")

    def object_exists(self, account: str, container: str, obj: str,
                      **kwargs) -> bool:
        return self.object_head(account, container, obj, **kwargs)

    @handle_container_not_found
    def object_list(self, account: str, container: str, limit=None,
                    marker=None, end_marker=None, prefix=None, delimiter=None,
                    properties=False, versions=False, deleted=False,
                    **kwargs) -> dict:
        headers, body = self.container.content_list(
            account, container, limit=limit, marker=marker,
            end_marker=end_marker, prefix=prefix, delimiter=delimiter,
            properties=properties or None, versions=versions,
            deleted=deleted, **_proxy_kwargs(kwargs))
        body = body or {}
        for obj in body.get("objects") or ():
            obj["chunk_method"] = obj.pop("chunk-method", None)
            obj["mime_type"] = obj.pop("mime-type", None)
            obj.setdefault("is_latest", True)
        truncated = str(headers.get("x-oio-list-truncated", "")).lower() == "true"
        body["truncated"] = truncated
        marker = headers.get("x-oio-list-marker")
        if marker is not None:
            from urllib.parse import unquote
            body["next_marker"] = unquote(marker)
        body.setdefault("objects", [])
        body.setdefault("prefixes", [])
        return body

    # Objects: metadata and deletion ----------------------------------------
    @handle_object_not_found
    def object_set_properties(self, account: str, container: str, obj: str,
                              properties: dict, version=None, clear=False,
                              **kwargs) -> None:
        self.container.content_set_properties(
            account, container, obj, properties=properties, version=version,
            clear=clear, **_proxy_kwargs(kwargs))

    @handle_object_not_found
    def object_del_properties(self, account: str, container: str, obj: str,
                              properties: Iterable[str], version=None,
                              **kwargs) -> None:
        self.container.content_del_properties(
            account, container, obj, properties=list(properties),
            version=version, **_proxy_kwargs(kwargs))

    @handle_object_not_found
    def object_delete(self, account: str, container: str, obj: str,
                      version=None, **kwargs) -> bool:
        return self.container.content_delete(
            account, container, obj, version=version, **_proxy_kwargs(kwargs))


class _Prepend:
    """A source with some bytes pushed back in front of it."""

    def __init__(self, head: bytes, source):
        self.head = head
        self.source = source

    def remaining(self) -> int | None:
        left = self.source.remaining()
        return None if left is None else left + len(self.head)

    def read(self, size: int) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            if size <= len(head):
                self.head = head[size:]
                return head[:size]
            return head + self.source.read(size - len(head))
        return self.source.read(size)

    def close(self) -> None:
        self.source.close()
