"""The S3 bucket naming rule used by `s3_buckets_only` listings."""

from __future__ import annotations

import re

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def is_s3_bucket_name(name: str) -> bool:
    if not 3 <= len(name) <= 63 or _IPV4.match(name):
        return False
    return all(_LABEL.match(label) for label in name.split("."))
