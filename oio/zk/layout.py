"""Where things live in ZooKeeper, as OpenIO 7.2 lays them out
(spec replication.md §3).

    /hc/ns/<NS>/srv/meta0/<H>         persistent: one per meta0 (its address)
    /hc/ns/<NS>/el/meta0/<K>-<seq>    election nodes of the meta0 base
    /hc/ns/<NS>/el/meta1/<XXX>/<K>-   3 hex digits of K
    /hc/ns/<NS>/el/meta2/<XX>/<YY>/<K>-

K, the election key of a base, is the upper-case hex SHA-256 of
"<base>@<type>"; each peer of the base holds an ephemeral sequential node
named after it, whose data is the peer's service ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

ELECTION_TYPES = ("meta0", "meta1", "meta2")
# Digits of the sequence ZooKeeper appends to a sequential node.
SEQ_DIGITS = 10


def ns_root(ns: str) -> str:
    return f"/hc/ns/{ns}"


def election_key(base: str, kind: str) -> str:
    """The key of the election of `base` of service type `kind`."""
    return hashlib.sha256(f"{base}@{kind}".encode()).hexdigest().upper()


def election_dir(ns: str, kind: str, key: str) -> str:
    """The directory holding the election nodes of `key`."""
    root = f"{ns_root(ns)}/el/{kind}"
    if kind == "meta1":
        return f"{root}/{key[:3]}"
    if kind == "meta2":
        return f"{root}/{key[:2]}/{key[2:4]}"
    return root


def meta0_dir(ns: str) -> str:
    return f"{ns_root(ns)}/srv/meta0"


def meta0_node(ns: str, addr: str) -> str:
    """The persistent registration node of the meta0 at `addr`."""
    digest = hashlib.sha256(f"{addr}@".encode()).hexdigest().upper()
    return f"{meta0_dir(ns)}/{digest}"


def split_member(name: str) -> tuple[str, int] | None:
    """(key, sequence) of an election node name `K-0000000042`, or None for
    a name of another shape."""
    key, sep, seq = name.rpartition("-")
    if not sep or not key or len(seq) != SEQ_DIGITS or not seq.isdigit():
        return None
    return key, int(seq)


def bootstrap_dirs(ns: str, kinds: tuple[str, ...] = ELECTION_TYPES
                   ) -> Iterator[str]:
    """Every directory `openio zk bootstrap` creates, parents first."""
    root = ns_root(ns)
    yield "/hc"
    yield "/hc/ns"
    yield root
    yield f"{root}/srv"
    yield f"{root}/srv/meta0"
    yield f"{root}/el"
    for kind in kinds:
        yield f"{root}/el/{kind}"
        if kind == "meta1":
            for i in range(16 ** 3):
                yield f"{root}/el/meta1/{i:03X}"
        elif kind == "meta2":
            for i in range(256):
                yield f"{root}/el/meta2/{i:02X}"
            for i in range(256):
                for j in range(256):
                    yield f"{root}/el/meta2/{i:02X}/{j:02X}"
