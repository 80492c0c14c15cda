"""A service's volume identity: the `user.server.*` xattrs of its root.

A rawx, rdir or meta2 service claims its data directory with its
namespace, ID and type (OpenIO's "volume lock"). Tools that crawl a volume
from disk (auditor, indexers) read them back to learn which service, and
so which rdir index, the files belong to.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

from oio.common.constants import VOLUME_XATTR_KEYS
from oio.common.exceptions import ConfigurationException

XATTR_PREFIX = "user."


class VolumeLockError(ConfigurationException):
    """The directory already belongs to another service or namespace."""


@dataclass(frozen=True)
class VolumeInfo:
    path: str
    namespace: str
    volume_id: str      # the service ID (or IP:PORT) that owns the volume
    service_type: str


def _xattr_name(key: str) -> str:
    return XATTR_PREFIX + VOLUME_XATTR_KEYS[key]


def lock_volume(path: str, namespace: str, volume_id: str,
                service_type: str) -> bool:
    """Claim `path` for (namespace, volume_id, service_type): each xattr is
    created, or must already have this value (VolumeLockError). False when
    the filesystem has no user xattrs (nothing is locked then)."""
    wanted = {"namespace": namespace, "id": volume_id, "type": service_type}
    for key, value in wanted.items():
        name, raw = _xattr_name(key), value.encode("utf-8")
        try:
            os.setxattr(path, name, raw, os.XATTR_CREATE)
        except FileExistsError:
            current = os.getxattr(path, name)
            if current != raw:
                raise VolumeLockError(
                    f"{path}: {name} is {current.decode(errors='replace')!r}, "
                    f"not {value!r}: the directory belongs to another "
                    "service") from None
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return False
            raise
    return True


def read_volume(path: str, service_type: str,
                namespace: str | None = None) -> VolumeInfo:
    """The identity of the `service_type` volume at `path` (of `namespace`
    when given); ConfigurationException saying what is wrong (not a
    directory, not claimed by a service, claimed by another type of
    service or by another namespace)."""
    if not os.path.isdir(path):
        raise ConfigurationException(f"volume {path} is not a directory")
    values = {}
    for key in ("namespace", "id", "type"):
        try:
            values[key] = os.getxattr(path, _xattr_name(key)).decode(
                "utf-8", "replace")
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP,
                                 errno.EOPNOTSUPP):
                raise ConfigurationException(
                    f"volume {path}: cannot read its xattrs: {exc}") from None
            raise ConfigurationException(
                f"volume {path} has no {_xattr_name(key)} xattr: it is not "
                f"the volume of a started {service_type} service") from None
    if values["type"] != service_type:
        raise ConfigurationException(
            f"volume {path} belongs to a {values['type']} service, "
            f"not a {service_type}")
    if namespace and values["namespace"] != namespace:
        raise ConfigurationException(
            f"volume {path} belongs to namespace {values['namespace']!r}, "
            f"not {namespace!r}")
    return VolumeInfo(path, values["namespace"], values["id"], values["type"])
