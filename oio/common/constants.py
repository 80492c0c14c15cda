"""Wire constants: header names, xattr keys, well-known properties."""

HEADER_PREFIX = "x-oio-"
ADMIN_HEADER = HEADER_PREFIX + "admin"
ACTION_MODE_HEADER = HEADER_PREFIX + "action-mode"
CHECKHASH_HEADER = HEADER_PREFIX + "check-hash"
FETCHXATTR_HEADER = HEADER_PREFIX + "xattr"
FORCEMASTER_HEADER = HEADER_PREFIX + "force-master"
FORCEVERSIONING_HEADER = HEADER_PREFIX + "force-versioning"
SIMULATEVERSIONING_HEADER = HEADER_PREFIX + "simulate-versioning"
PERFDATA_HEADER = HEADER_PREFIX + "perfdata"
PERFDATA_HEADER_PREFIX = PERFDATA_HEADER + "-"
REQID_HEADER = HEADER_PREFIX + "req-id"
TIMEOUT_HEADER = HEADER_PREFIX + "timeout"
UPGRADE_TLS_HEADER = HEADER_PREFIX + "upgrade-to-tls"

CONTAINER_METADATA_PREFIX = HEADER_PREFIX + "container-meta-"
CONTAINER_USER_METADATA_PREFIX = CONTAINER_METADATA_PREFIX + "user-"
OBJECT_METADATA_PREFIX = HEADER_PREFIX + "content-meta-"
CHUNK_METADATA_PREFIX = HEADER_PREFIX + "chunk-meta-"

CONNECTION_TIMEOUT = 2.0
READ_TIMEOUT = 30.0
TIMEOUT_KEYS = ("connection_timeout", "read_timeout", "write_timeout")

STRLEN_REFERENCEID = 66
STRLEN_CHUNKID = 64
STRLEN_REQID = 63
OIO_VERSION = "4.2"

OIO_DB_ENABLED = 0
OIO_DB_FROZEN = 2**32 - 1
OIO_DB_DISABLED = 2**32 - 2
# Names of the container statuses, looked up by int or by the string meta2 returns.
OIO_DB_STATUS_NAME = {}
for _value, _name in ((OIO_DB_ENABLED, "Enabled"), (OIO_DB_FROZEN, "Frozen"),
                      (OIO_DB_DISABLED, "Disabled")):
    OIO_DB_STATUS_NAME[_value] = OIO_DB_STATUS_NAME[str(_value)] = _name
del _value, _name

CONTAINER_HEADERS = {
    "size": CONTAINER_METADATA_PREFIX + "sys-m2-usage",
    "ns": CONTAINER_METADATA_PREFIX + "sys-ns",
}

OBJECT_HEADERS = {
    "name": OBJECT_METADATA_PREFIX + "name",
    "id": OBJECT_METADATA_PREFIX + "id",
    "policy": OBJECT_METADATA_PREFIX + "policy",
    "version": OBJECT_METADATA_PREFIX + "version",
    "size": OBJECT_METADATA_PREFIX + "length",
    "ctime": OBJECT_METADATA_PREFIX + "ctime",
    "hash": OBJECT_METADATA_PREFIX + "hash",
    "mime_type": OBJECT_METADATA_PREFIX + "mime-type",
    "chunk_method": OBJECT_METADATA_PREFIX + "chunk-method",
}

CHUNK_HEADERS = {
    "container_id": CHUNK_METADATA_PREFIX + "container-id",
    "chunk_id": CHUNK_METADATA_PREFIX + "chunk-id",
    "chunk_hash": CHUNK_METADATA_PREFIX + "chunk-hash",
    "chunk_mtime": "last-modified",
    "chunk_size": CHUNK_METADATA_PREFIX + "chunk-size",
    "chunk_pos": CHUNK_METADATA_PREFIX + "chunk-pos",
    "content_id": CHUNK_METADATA_PREFIX + "content-id",
    "content_chunkmethod": CHUNK_METADATA_PREFIX + "content-chunk-method",
    "content_policy": CHUNK_METADATA_PREFIX + "content-storage-policy",
    "content_path": CHUNK_METADATA_PREFIX + "content-path",
    "content_version": CHUNK_METADATA_PREFIX + "content-version",
    "metachunk_size": CHUNK_METADATA_PREFIX + "metachunk-size",
    "metachunk_hash": CHUNK_METADATA_PREFIX + "metachunk-hash",
    "full_path": CHUNK_METADATA_PREFIX + "full-path",
    "oio_version": CHUNK_METADATA_PREFIX + "oio-version",
    # Ours: a chunk hash computed with another algorithm than MD5.
    "chunk_hash_algo": CHUNK_METADATA_PREFIX + "chunk-hash-algo",
    # Ours: the xxh3_128 of the body, checked by the rawx and not stored
    # (docs/rawx.md), so that a client need not MD5 what the rawx MD5s.
    "transfer_hash": CHUNK_METADATA_PREFIX + "transfer-hash",
}
TRANSFER_HASH_ALGO = "xxh3_128"

CHUNK_XATTR_KEYS = {
    "chunk_hash": "grid.chunk.hash",
    "chunk_hash_algo": "grid.chunk.hash_algo",
    "chunk_id": "grid.chunk.id",
    "chunk_pos": "grid.chunk.position",
    "chunk_size": "grid.chunk.size",
    "content_chunkmethod": "grid.content.chunk_method",
    "container_id": "grid.content.container",
    "content_id": "grid.content.id",
    "content_path": "grid.content.path",
    "content_policy": "grid.content.storage_policy",
    "content_version": "grid.content.version",
    "metachunk_hash": "grid.metachunk.hash",
    "metachunk_size": "grid.metachunk.size",
    "compression": "grid.compression",
    "oio_version": "grid.oio.version",
}
CHUNK_XATTR_CONTENT_FULLPATH_PREFIX = "oio.content.fullpath:"

# Chunk xattr keys a chunk may lack (older chunks, or kept in the fullpath).
CHUNK_XATTR_KEYS_OPTIONAL = dict.fromkeys((
    "content_chunksnb", "chunk_hash", "chunk_mtime", "chunk_size",
    "metachunk_size", "metachunk_hash", "oio_version", "compression",
    "container_id", "content_id", "content_path", "content_version"), True)
VOLUME_XATTR_KEYS = {"namespace": "server.ns", "type": "server.type",
                     "id": "server.id"}

CHUNK_SUFFIX_CORRUPT = ".corrupt"
CHUNK_SUFFIX_PENDING = ".pending"

HIDDEN_ACCOUNTS = ("_RDIR",)

M2_PROP_BUCKET_NAME = "sys.m2.bucket.name"
BUCKET_PROP_REPLI_ENABLED = "replication_enabled"   # a bucket field (account)
M2_PROP_CTIME = "sys.m2.ctime"
M2_PROP_DAMAGED_OBJECTS = "sys.m2.objects.damaged"
M2_PROP_MISSING_CHUNKS = "sys.m2.chunks.missing"
M2_PROP_OBJECTS = "sys.m2.objects"
M2_PROP_QUOTA = "sys.m2.quota"
M2_PROP_STORAGE_POLICY = "sys.m2.policy.storage"
M2_PROP_USAGE = "sys.m2.usage"
M2_PROP_VERSIONING_POLICY = "sys.m2.policy.version"
# 1: versions beyond the maximum are deleted at once; 0: by the lifecycle.
M2_PROP_DEL_EXC_VERSIONS = "sys.m2.policy.version.delete_exceeding"

# OpenIO internal status codes (see docs/architecture.md and the proxy spec).
CODE_BAD_REQUEST = 400
CODE_NOT_ALLOWED = 403
CODE_NOT_FOUND = 404
CODE_USER_NOTFOUND = 406
CODE_USER_INUSE = 407
CODE_USER_EXISTS = 408
CODE_ACCOUNT_NOTFOUND = 409
CODE_NAMESPACE_NOTMANAGED = 418
CODE_CONTENT_NOTFOUND = 420
CODE_CONTENT_EXISTS = 421
CODE_CONTENT_UNCOMPLETE = 423
CODE_CONTENT_PRECONDITION = 424
CODE_CONTENT_CORRUPTED = 425
CODE_CONTENT_DELETED = 426
CODE_CONTENT_DRAINED = 427
CODE_CONTAINER_NOTFOUND = 431
CODE_CONTAINER_EXISTS = 433
CODE_CONTAINER_FROZEN = 436
CODE_CONTAINER_NOTEMPTY = 438
CODE_SRVTYPE_NOTMANAGED = 453
CODE_SRV_NOLINK = 454
CODE_SRV_ALREADY = 455
CODE_POLICY_NOT_SUPPORTED = 480
CODE_POLICY_NOT_SATISFIABLE = 481
CODE_INTERNAL_ERROR = 500
CODE_NOT_IMPLEMENTED = 501
CODE_PROXY_ERROR = 502
CODE_UNAVAILABLE = 503
CODE_GATEWAY_TIMEOUT = 504

# Sharded S3 buckets (Swift's "container hierarchy"): a sub-container is
# named <bucket>%2F<path>, the separator of the keys encoded.
CH_ENCODED_SEPARATOR = "%2F"
CH_SEPARATOR = "/"

# 7.2's lower-case names of the same tables (its tests import them).
chunk_xattr_keys = CHUNK_XATTR_KEYS
volume_xattr_keys = VOLUME_XATTR_KEYS
container_headers = CONTAINER_HEADERS
object_headers = OBJECT_HEADERS
