"""The rawx configuration file: flat `KEY VALUE` lines (rawx.md §1.1)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from oio.common.exceptions import ConfigurationException
from oio.common.utils import parse_bool

KiB = 1024
MIN_BUFFER = 32 * KiB
MAX_BUFFER = 8 * 1024 * KiB

# Every accepted key (lower case) → canonical option. The aliases come from
# the Apache mod-dav heritage of the rawx.
_ALIASES: dict[str, tuple[str, ...]] = {
    "addr": ("listen",),
    "ns": ("grid_namespace", "namespace"),
    "basedir": ("grid_docroot", "docroot"),
    "id": ("grid_service_id", "service_id"),
    "hash_width": ("grid_hash_width",),
    "hash_depth": ("grid_hash_depth",),
    "fsync_file": ("grid_fsync", "fsync"),
    "fsync_dir": ("grid_fsync_dir",),
    "fallocate": ("grid_fallocate",),
    "compression": ("grid_compression", "grid_compress", "compress"),
    "checksum": ("grid_checksum",),
    "buffer_size": ("grid_buffer_size",),
    "fadvise_upload": ("grid_fadvise_upload",),
    "fadvise_download": ("grid_fadvise_download",),
    "nonblock": ("open_nonblock",),
    "keepalive": ("http_keepalive", "tcp_keepalive"),
    "events": (),
    "timeout_read_header": (),
    "timeout_read_request": (),
    "timeout_write_reply": (),
    "timeout_idle": (),
    "headers_buffer_size": (),
    "cork": ("sock_tcp_cork",),
    "nodelay": ("sock_tcp_nodelay",),
    "tls_cert_file": (),
    "tls_key_file": (),
    "tls_rawx_url": (),
    "log_access_get": (),
    "log_access_put": (),
    "log_access_delete": (),
    "syslog_id": (),
}
_CANONICAL = {alias: name for name, aliases in _ALIASES.items()
              for alias in (name, *aliases)}

# The rawx knows a few more boolean words than the rest of the project.
_EXTRA_TRUE = frozenset(("ok",))
_EXTRA_FALSE = frozenset(("ko", "wot?"))


def parse_rawx_bool(value: str, key: str) -> bool:
    """A rawx boolean word; ConfigurationException if it is none."""
    word = value.strip().lower()
    if word in _EXTRA_TRUE:
        return True
    if word in _EXTRA_FALSE:
        return False
    result = parse_bool(word)
    if result is None:
        raise ConfigurationException(f"{key}: not a boolean: {value!r}")
    return result


def _parse_int(value: str, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationException(f"{key}: not an integer: {value!r}") from None


@dataclass
class RawxConfig:
    """Typed rawx settings. Sizes in bytes, durations in seconds."""

    addr: str
    ns: str
    basedir: str
    service_id: str = ""
    hash_width: int = 3
    hash_depth: int = 1
    fsync_file: bool = False
    fsync_dir: bool = False
    fallocate: bool = False
    compression: str = ""
    checksum: str = "always"      # always | never | smart
    buffer_size: int = 2048 * KiB
    fadvise_upload: str = "none"     # none | yes | cache | nocache
    fadvise_download: str = "none"
    keepalive: bool = True
    events: bool = True
    timeout_read_header: float = 60.0
    timeout_read_request: float = 900.0
    timeout_write_reply: float = 900.0
    timeout_idle: float = 3600.0
    headers_buffer_size: int = 65536
    tls_rawx_url: str = ""
    log_access: bool = True
    syslog_id: str = ""

    @property
    def host(self) -> str:
        host, _, _ = self.addr.rpartition(":")
        return host.strip("[]")

    @property
    def port(self) -> int:
        return int(self.addr.rpartition(":")[2])

    @property
    def volume_id(self) -> str:
        """What identifies the volume: the service ID, else the address."""
        return self.service_id or self.addr


def _read_pairs(text: str) -> dict[str, str]:
    """Canonical key → raw value; the last occurrence of a key wins."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        name = _CANONICAL.get(fields[0].lower())
        if name is not None:
            pairs[name] = fields[1]
    return pairs


def _parse_checksum(value: str) -> str:
    word = value.strip().lower()
    if word in ("smart", "always", "never"):
        return word
    return "always" if parse_rawx_bool(word, "checksum") else "never"


def _parse_fadvise(value: str, key: str) -> str:
    """`cache`, `nocache`, or a boolean (true: `yes`, false: `none`)."""
    word = value.strip().lower()
    if word in ("cache", "nocache"):
        return word
    try:
        return "yes" if parse_rawx_bool(word, key) else "none"
    except ConfigurationException:
        raise ConfigurationException(
            f"{key}: expected cache, nocache or a boolean, got {value!r}"
        ) from None


def parse_rawx_conf(text: str) -> RawxConfig:
    """Parse the text of a rawx configuration file; ConfigurationException on
    a missing mandatory key or a bad value."""
    raw = _read_pairs(text)
    for key in ("addr", "ns", "basedir"):
        if not raw.get(key):
            raise ConfigurationException(f"rawx configuration: missing {key!r}")
    if ":" not in raw["addr"] or not raw["addr"].rpartition(":")[2].isdigit():
        raise ConfigurationException(f"addr: expected IP:PORT, got {raw['addr']!r}")
    if not os.path.isabs(raw["basedir"]):
        raise ConfigurationException(
            f"basedir must be an absolute path, got {raw['basedir']!r}")
    conf = RawxConfig(addr=raw["addr"], ns=raw["ns"],
                      basedir=os.path.normpath(raw["basedir"]),
                      service_id=raw.get("id", ""))
    for key in ("hash_width", "hash_depth", "headers_buffer_size"):
        if key in raw:
            setattr(conf, key, _parse_int(raw[key], key))
    if not 1 <= conf.hash_width <= 8 or not 0 <= conf.hash_depth <= 4:
        raise ConfigurationException("hash_width must be 1..8, hash_depth 0..4")
    for key in ("fsync_file", "fsync_dir", "fallocate", "keepalive", "events"):
        if key in raw:
            setattr(conf, key, parse_rawx_bool(raw[key], key))
    if "buffer_size" in raw:
        kib = _parse_int(raw["buffer_size"], "buffer_size")
        conf.buffer_size = min(max(kib * KiB, MIN_BUFFER), MAX_BUFFER)
    if "checksum" in raw:
        conf.checksum = _parse_checksum(raw["checksum"])
    for key in ("fadvise_upload", "fadvise_download"):
        if key in raw:
            setattr(conf, key, _parse_fadvise(raw[key], key))
    comp = raw.get("compression", "").lower()
    if comp and comp not in ("off", "zlib", "deflate", "lzw"):
        try:
            comp = "zlib" if parse_rawx_bool(comp, "compression") else "off"
        except ConfigurationException:
            raise ConfigurationException(
                f"compression: unknown algorithm {comp!r}") from None
    conf.compression = comp
    for key in ("timeout_read_header", "timeout_read_request",
                "timeout_write_reply", "timeout_idle"):
        if key in raw:
            setattr(conf, key, float(_parse_int(raw[key], key)))
    conf.tls_rawx_url = raw.get("tls_rawx_url", "")
    conf.syslog_id = raw.get("syslog_id", "")
    # The core has one access-log switch: on unless every kind is turned off.
    kinds = [parse_rawx_bool(raw[k], k) for k in
             ("log_access_get", "log_access_put", "log_access_delete") if k in raw]
    conf.log_access = len(kinds) < 3 or any(kinds)
    return conf


def load_rawx_conf(path: str) -> RawxConfig:
    """Read and parse the rawx configuration file at `path`."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigurationException(
            f"cannot read rawx configuration {path}: {exc.strerror}") from None
    return parse_rawx_conf(text)
