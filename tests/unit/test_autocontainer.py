"""Autocontainer builders (oio/common/autocontainer.py)."""

from __future__ import annotations

import hashlib
import re

import pytest

from oio.common.autocontainer import (
    AutocontainerBuilder,
    ContainerBuilder,
    HashedContainerBuilder,
    NoMatchFound,
    RegexContainerBuilder,
    flat_builder,
    strtoll,
)
from oio.common.exceptions import ConfigurationException


def _sha_bits(data: bytes, bits: int) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big") >> (256 - bits)


@pytest.mark.parametrize("bits", [1, 4, 8, 10, 15, 17, 64])
def test_hashed_name_is_the_first_bits_of_the_sha256(bits):
    builder = HashedContainerBuilder(bits=bits)
    name = builder("videos/cat.mp4")
    digits = (bits - 1) // 4 + 1
    assert len(name) == digits and name == name.upper()
    # The first `bits` bits, left-aligned in whole hex digits.
    assert int(name, 16) >> (digits * 4 - bits) == \
        _sha_bits(b"videos/cat.mp4", bits)
    assert builder.verify(name)


def test_hashed_offset_and_size_select_the_hashed_part():
    whole = HashedContainerBuilder(bits=16)
    part = HashedContainerBuilder(offset=2, size=3, bits=16)
    assert part("abcdefgh") == whole("cde")
    assert part("xxcdeZZZ") == part("yycdeAAA")
    assert str(part) == "HashedContainerBuilder(bits=16,offset=2,size=3)"


def test_hashed_verify_refuses_bits_out_of_range_and_bad_names():
    builder = HashedContainerBuilder(bits=10)
    assert builder.verify("FFC") and not builder.verify("FFE")
    assert not builder.verify("0FFC") and not builder.verify("XYZ")
    assert not builder.verify(None)
    with pytest.raises(ValueError):
        HashedContainerBuilder(bits=0)


def test_identity_and_digit_builders():
    assert ContainerBuilder()("a/b") == "a/b"
    assert list(ContainerBuilder().alternatives("a")) == ["a"]
    assert ContainerBuilder().verify("x") and not ContainerBuilder().verify(3)
    assert strtoll("123abc") == 123
    builder = AutocontainerBuilder(mask=0xFF, con_format="%04X")
    assert builder("12/34/xyz") == "%04X" % (1234 & 0xFF)
    assert builder.verify("00D2") and not builder.verify("D2")


def test_regex_builder_first_matching_pattern():
    builder = RegexContainerBuilder((r"(\d+)/(\d+)/\d+/original",
                                     r"^([^/]+)/"))
    assert builder("img/1/2/3/original/x.jpg") == "12"
    assert builder("img/normal/x.jpg") == "img"
    assert list(builder.alternatives("img/1/2/3/original/x")) == ["12", "img"]
    with pytest.raises(NoMatchFound):
        builder("nothing")
    hashed = RegexContainerBuilder(r"^(\w+)/", builder=HashedContainerBuilder,
                                   bits=8)
    assert hashed("abc/def") == HashedContainerBuilder(bits=8)("abc")
    assert RegexContainerBuilder(re.compile(r"(a)"))("bab") == "a"
    for bad in (None, [], "nogroup"):
        with pytest.raises(ValueError):
            RegexContainerBuilder(bad)


def test_flat_builder_from_namespace_options():
    assert flat_builder({"flat_bitlength": "17"}).bits == 17
    assert flat_builder({"ns.flat_bits": 12}).bits == 12
    built = flat_builder({"flat_bitlength": 17, "flat_hash_offset": "1",
                          "flat_hash_size": "4"}, bits=9)
    assert (built.bits, built.offset, built.size) == (9, 1, 4)
    with pytest.raises(ConfigurationException, match="not configured"):
        flat_builder({})
    with pytest.raises(ConfigurationException, match="Invalid"):
        flat_builder({"flat_bitlength": "many"})
    with pytest.raises(ConfigurationException, match="Invalid flat bit"):
        flat_builder({}, bits=0)


def test_conscience_publishes_flat_bitlength():
    from oio.common.configuration import Config
    from oio.conscience.server import load_namespace

    ns, _ = load_namespace(Config({"namespace": "NS"}))
    assert ns.to_dict()["options"]["flat_bitlength"] == 17
    ns, _ = load_namespace(Config({"namespace": "NS", "ns.flat_bits": "12"}))
    options = ns.to_dict()["options"]
    assert options["flat_bitlength"] == 12 and "flat_bits" not in options
    assert flat_builder(options).bits == 12
