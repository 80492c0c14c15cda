"""Autocontainers: the container of an object computed from its name.

A "flat" namespace spreads objects over containers named after a hash of
the object name (HashedContainerBuilder, the `flat_bitlength`,
`flat_hash_offset` and `flat_hash_size` namespace options, `openio object
... --auto`). The other builders derive the name from digits of the path
(AutocontainerBuilder) or from regular expressions (RegexContainerBuilder).
Same names, arguments and results as OpenIO 7.2's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import takewhile

from oio.common.exceptions import ConfigurationException

# Bits of a flat namespace when the namespace does not tell (7.2's
# central default, `ns.flat_bits`).
DEFAULT_FLAT_BITS = 17


def strtoll(val: str, base: int = 10) -> int:
    """The integer at the start of `val`, ignoring what follows (as libc's
    strtoll, where int() would refuse the trailing characters)."""
    return int("".join(takewhile(str.isdigit, val)), base)


class ContainerBuilder:
    """Identity builder: the path is the container name."""

    def __init__(self, **_kwargs) -> None:
        pass

    def __call__(self, path: str) -> str:
        return str(path)

    def alternatives(self, path: str) -> Iterator[str]:
        """Every container `path` may live in (one here)."""
        yield self(path)

    def verify(self, name) -> bool:
        """Whether `name` can be one of this builder's containers."""
        return isinstance(name, str)


class HashedContainerBuilder(ContainerBuilder):
    """The first `bits` bits of the SHA-256 of the path (from `offset`, at
    most `size` bytes), as upper-case hex digits padded with zero bits on
    the right: the C core's oio_str_autocontainer."""

    def __init__(self, offset: int = 0, size: int | None = None,
                 bits: int = 15, **_kwargs) -> None:
        bits = int(bits)
        if not 0 < bits <= 256:
            raise ValueError(f"Invalid flat bit length {bits} (1-256)")
        self.offset, self.size, self.bits = int(offset or 0), size, bits
        self.digits = (bits - 1) // 4 + 1
        width = self.digits * 4
        # The bits the name may have set: the `bits` highest of `width`.
        self.mask = (1 << width) - (1 << (width - bits))

    def __str__(self) -> str:
        return (f"{type(self).__name__}(bits={self.bits},"
                f"offset={self.offset},size={self.size})")

    def __call__(self, path: str) -> str:
        src = path[self.offset:].encode("utf-8")
        if self.size and self.size < len(src):
            src = src[:self.size]
        digest = hashlib.sha256(src).digest()
        value = int.from_bytes(digest[:(self.digits + 1) // 2], "big")
        if self.digits % 2:   # an odd number of hex digits: drop a nibble
            value >>= 4
        return f"{value & self.mask:0{self.digits}X}"

    def verify(self, name) -> bool:
        if not isinstance(name, str) or len(name) != self.digits:
            return False
        try:
            return not int(name, 16) & ~self.mask
        except ValueError:
            return False


class AutocontainerBuilder(ContainerBuilder):
    """The leading digits of the path (slashes removed, from `offset`, at
    most `size` characters), masked with `mask` and formatted with
    `con_format`: e.g. "video/ABC/DEF/xxxx_name"."""

    def __init__(self, offset: int = 0, size: int | None = None,
                 mask: int = 0xFFFFFFFFFF0000FF, base: int = 16,
                 con_format: str = "%016X", **_kwargs) -> None:
        self.offset, self.size, self.mask = offset, size, mask
        self.base, self.format = base, con_format

    def __call__(self, path: str) -> str:
        end = self.offset + self.size if self.size else None
        flat = path[self.offset:end].replace("/", "")
        return self.format % (strtoll(flat) & self.mask)

    def verify(self, name) -> bool:
        try:
            return self.format % int(name, 16) == name
        except (TypeError, ValueError):
            return False


class NoMatchFound(ValueError):
    """No pattern of a RegexContainerBuilder matches the path."""


class RegexContainerBuilder:
    """The concatenated capture groups of the first of `patterns` that
    matches the path, passed through `builder` (identity by default)."""

    def __init__(self, patterns: str | re.Pattern | Iterable,
                 builder: type = ContainerBuilder, **kwargs) -> None:
        if isinstance(patterns, (str, re.Pattern)):
            patterns = (patterns,)
        self.patterns: list[re.Pattern] = []
        for pattern in patterns or ():
            if not isinstance(pattern, re.Pattern):
                pattern = re.compile(pattern)
                if pattern.groups < 1:
                    raise ValueError(
                        f"Expression {pattern.pattern!r} has no capture group")
            self.patterns.append(pattern)
        if not self.patterns:
            raise ValueError("At least one pattern is needed")
        self.builder = builder(**kwargs)

    def _matches(self, path: str) -> Iterator[str]:
        for pattern in self.patterns:
            match = pattern.search(path)
            if match:
                yield self.builder("".join(g for g in match.groups()
                                           if g is not None))

    def __call__(self, path: str) -> str:
        for name in self._matches(path):
            return name
        raise NoMatchFound(f"'{path}' does not match any configured pattern")

    def alternatives(self, path: str) -> Iterator[str]:
        """One name per matching pattern, in the order of the patterns."""
        return self._matches(path)

    def verify(self, name) -> bool:
        return self.builder.verify(name)


def flat_builder(options: Mapping, bits: int | str | None = None
                 ) -> HashedContainerBuilder:
    """The builder of a flat namespace from its options (`flat_bitlength`,
    `flat_hash_offset`, `flat_hash_size`, as namespace info or sds.conf
    give them); `bits` overrides the bit length."""
    try:
        if bits is None:
            bits = (options.get("flat_bitlength") or options.get("ns.flat_bits")
                    or options.get("flat_bits"))
            if not bits:
                raise ConfigurationException(
                    "Namespace not configured for autocontainers "
                    "(no flat_bitlength)")
        bitlength = int(bits)
        offset = int(options.get("flat_hash_offset") or 0)
        size = int(options.get("flat_hash_size") or 0) or None
    except (TypeError, ValueError) as err:
        raise ConfigurationException(
            f"Invalid autocontainer configuration: {err}") from None
    try:
        return HashedContainerBuilder(offset=offset, size=size, bits=bitlength)
    except ValueError as err:
        raise ConfigurationException(str(err)) from None
