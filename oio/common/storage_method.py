"""Chunk methods (naming.md §6.4): how an object is cut and written."""

from __future__ import annotations

from dataclasses import dataclass, field

from oio.common.exceptions import InvalidStorageMethod


def parse_chunk_method(chunk_method: str) -> tuple[str, dict[str, str]]:
    """`ec/algo=x,k=6,m=3` → ("ec", {"algo": "x", "k": "6", "m": "3"})."""
    kind, _, rest = (chunk_method or "").partition("/")
    params: dict[str, str] = {}
    for item in rest.split(","):
        item = item.lstrip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        params[key] = value if sep else "1"
    return kind, params


@dataclass
class StorageMethod:
    name: str
    ec: bool = False
    nb_copy: int = 1
    ec_k: int = 0
    ec_m: int = 0
    algo: str = ""
    params: dict = field(default_factory=dict)

    @property
    def expected_chunks(self) -> int:
        return self.ec_k + self.ec_m if self.ec else self.nb_copy

    @property
    def quorum(self) -> int:
        """Copies (or fragments) that must be written for an upload to count."""
        return self.ec_k + 1 if self.ec else (self.nb_copy + 1) // 2

    @property
    def min_chunks_to_read(self) -> int:
        return self.ec_k if self.ec else 1


def guess_storage_method(chunk_method: str) -> StorageMethod:
    kind, params = parse_chunk_method(chunk_method)
    try:
        if kind == "plain" or kind == "":
            return StorageMethod("plain", nb_copy=max(1, int(params.get("nb_copy", 1))),
                                 params=params)
        if kind == "ec":
            for key in ("algo", "k", "m"):
                if key not in params:
                    raise InvalidStorageMethod(f"{chunk_method}: missing {key}")
            return StorageMethod("ec", ec=True, ec_k=int(params["k"]),
                                 ec_m=int(params["m"]), algo=params["algo"],
                                 params=params)
        if kind == "backblaze":
            return StorageMethod("backblaze", params=params)
    except ValueError as err:
        raise InvalidStorageMethod(f"{chunk_method}: {err}") from None
    raise InvalidStorageMethod(f"Unknown chunk method {chunk_method!r}")

