"""Chunk methods (naming.md §6.4, proxy-api.md §4.2): how an object is cut
into metachunks and written.

`STORAGE_METHODS.load("plain/nb_copy=3")` gives the object the writers and
readers need (quorum, expected chunks, EC parameters). Parsing never needs
pyeclib: EC objects are described here, encoded elsewhere.
"""

from __future__ import annotations

import threading

from oio.common.exceptions import InvalidStorageMethod

EC_SEGMENT_SIZE = 1048576
# pyeclib reports 1 as the minimum parity needed by every backend it ships,
# hence a write quorum of k + 1 fragments (naming.md §6.4).
EC_MIN_PARITY_FRAGMENTS = 1


def parse_chunk_method(chunk_method: str) -> tuple[str, dict[str, str]]:
    """`ec/algo=x,k=6,m=3` → ("ec", {"algo": "x", "k": "6", "m": "3"}).

    A bare parameter (`plain/weak`) is worth "1"."""
    kind, _, rest = (chunk_method or "").partition("/")
    params: dict[str, str] = {}
    for item in rest.split(","):
        item = item.lstrip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        params[key] = value if sep else "1"
    return kind, params


def guess_storage_method(url: str) -> str:
    """The kind of storage a chunk URL points to (as upstream: by scheme)."""
    if url.startswith(("b2", "backblaze")):
        return "backblaze"
    if url.startswith("kine"):
        return "kplain"
    return "plain"


def _positive_int(value, what: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidStorageMethod(f"Invalid {value!r} {what}") from None
    if number < minimum:
        raise InvalidStorageMethod(f"Invalid {value!r} {what}: below {minimum}")
    return number


class StorageMethod:
    """What every method tells: its name and whether it is EC/backblaze."""

    ec = False
    backblaze = False

    def __init__(self, name: str):
        self.name = name
        self.type: str | None = None   # the chunk method's kind, set by load()

    @property
    def quorum(self) -> int:
        raise NotImplementedError

    @property
    def expected_chunks(self) -> int:
        raise NotImplementedError

    @property
    def min_chunks_to_read(self) -> int:
        raise NotImplementedError


class ReplicatedStorageMethod(StorageMethod):
    """`plain/nb_copy=N`: N identical copies of each metachunk."""

    def __init__(self, name: str, nb_copy):
        super().__init__(name)
        self.nb_copy = _positive_int(nb_copy, "nb_copy")

    @classmethod
    def build(cls, params: dict) -> ReplicatedStorageMethod:
        return cls("repli", params.pop("nb_copy", 1))

    @property
    def quorum(self) -> int:
        # 7.2.0: (nb_copy + 1) // 2, so 2 of 3, but 1 of 2.
        return (self.nb_copy + 1) // 2

    @property
    def expected_chunks(self) -> int:
        return self.nb_copy

    @property
    def min_chunks_to_read(self) -> int:
        return 1


class ECStorageMethod(StorageMethod):
    """`ec/algo=A,k=K,m=M`: K data and M parity fragments per metachunk."""

    ec = True

    def __init__(self, name: str, ec_segment_size: int, ec_type: str,
                 ec_nb_data, ec_nb_parity):
        super().__init__(name)
        if not ec_type:
            raise InvalidStorageMethod("Missing EC algorithm (algo=)")
        self.ec_segment_size = ec_segment_size
        self.ec_type = ec_type
        self.ec_nb_data = _positive_int(ec_nb_data, "ec_nb_data")
        self.ec_nb_parity = _positive_int(ec_nb_parity, "ec_nb_parity",
                                          minimum=0)
        self._local = threading.local()
        self._fragment_sizes: dict[int, int] = {}

    @classmethod
    def build(cls, params: dict) -> ECStorageMethod:
        try:
            return cls("ec", EC_SEGMENT_SIZE, params.pop("algo"),
                       params.pop("k"), params.pop("m"))
        except KeyError as err:
            raise InvalidStorageMethod(f"Missing EC parameter {err}") from None

    @property
    def quorum(self) -> int:
        return self.ec_nb_data + min(EC_MIN_PARITY_FRAGMENTS, self.ec_nb_parity)

    @property
    def expected_chunks(self) -> int:
        return self.ec_nb_data + self.ec_nb_parity

    @property
    def min_chunks_to_read(self) -> int:
        return self.ec_nb_data

    @property
    def driver(self):
        """The pyeclib driver of this method, one per thread (the library's
        instances are not documented as thread-safe)."""
        driver = getattr(self._local, "driver", None)
        if driver is None:
            try:
                from pyeclib.ec_iface import ECDriver
            except ImportError:
                raise InvalidStorageMethod(
                    "Erasure coding needs pyeclib (pip install pyeclib)") \
                    from None
            try:
                driver = ECDriver(k=self.ec_nb_data, m=self.ec_nb_parity,
                                  ec_type=self.ec_type)
            except Exception as err:  # noqa: BLE001 - pyeclib's own classes
                raise InvalidStorageMethod(
                    f"EC algorithm {self.ec_type!r} unavailable: {err}") \
                    from None
            self._local.driver = driver
        return driver

    def fragment_size(self, segment_length: int) -> int:
        """Bytes of each fragment of a segment of `segment_length` bytes
        (a full segment, or the shorter last one of a metachunk)."""
        if segment_length <= 0:
            return 0
        sizes = self._fragment_sizes
        size = sizes.get(segment_length)
        if size is None:
            size = self.driver.get_segment_info(
                segment_length, self.ec_segment_size)["fragment_size"]
            if len(sizes) < 4096:
                sizes[segment_length] = size
        return size

    @property
    def ec_fragment_size(self) -> int:
        """Fragment bytes of a full segment."""
        return self.fragment_size(self.ec_segment_size)

    def metachunk_size(self, chunk_size: int) -> int:
        """Bytes of object data per metachunk: k chunks, aligned down on the
        segment size when bigger than one segment (naming.md §6.3)."""
        size = self.ec_nb_data * chunk_size
        if size > self.ec_segment_size:
            size -= size % self.ec_segment_size
        return size

    def segments(self, metachunk_size: int) -> list[int]:
        """Lengths of the segments of a metachunk: whole segments, then the
        rest (never merged into the last whole one, as OpenIO writes)."""
        full, rest = divmod(metachunk_size, self.ec_segment_size)
        return [self.ec_segment_size] * full + ([rest] if rest else [])


class BackblazeStorageMethod(StorageMethod):
    backblaze = True

    def __init__(self, name: str, account_id: str, bucket_name: str):
        super().__init__(name)
        self.account_id = account_id
        self.bucket_name = bucket_name

    @classmethod
    def build(cls, params: dict) -> BackblazeStorageMethod:
        try:
            return cls("backblaze", params.pop("account_id"),
                       params.pop("bucket_name"))
        except KeyError as err:
            raise InvalidStorageMethod(f"Missing backblaze parameter {err}") \
                from None


class StorageMethods:
    """Chunk method strings → StorageMethod objects, cached by string."""

    def __init__(self, methods: dict[str, type[StorageMethod]]):
        self.index = methods
        self.cache: dict[str, StorageMethod] = {}

    def load(self, chunk_method: str, **kwargs) -> StorageMethod:
        method = self.cache.get(chunk_method)
        if method is not None:
            return method
        kind, params = parse_chunk_method(chunk_method)
        cls = self.index.get(kind)
        if cls is None:
            raise InvalidStorageMethod(f"Unknown chunk method {chunk_method!r}")
        params.update(kwargs)
        method = cls.build(params)
        method.type = kind
        self.cache[chunk_method] = method
        return method


def load_methods() -> StorageMethods:
    return StorageMethods({"plain": ReplicatedStorageMethod,
                           "ec": ECStorageMethod,
                           "backblaze": BackblazeStorageMethod})


STORAGE_METHODS = load_methods()
