"""A bounded cache whose entries expire after a time to live."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class TtlCache:
    """Entries live `ttl` seconds; beyond `max_size` the oldest are dropped."""

    def __init__(self, ttl: float, max_size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        item = self._data.get(key, _MISSING)
        if item is _MISSING:
            return default
        expiry, value = item
        if expiry < self._clock():
            del self._data[key]
            return default
        return value

    def put(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        self._data.pop(key, None)
        self._data[key] = (self._clock() + (self.ttl if ttl is None else ttl),
                           value)
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
