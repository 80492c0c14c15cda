"""Chunk method strings → storage methods (quorum, copies, EC parameters)."""

import pytest

from oio.common import exceptions as exc
from oio.common.storage_method import (
    STORAGE_METHODS,
    guess_storage_method,
    load_methods,
    parse_chunk_method,
)


@pytest.mark.parametrize("text, expected", [
    ("plain/nb_copy=3", ("plain", {"nb_copy": "3"})),
    ("ec/algo=isa_l_rs_vand,k=6,m=3",
     ("ec", {"algo": "isa_l_rs_vand", "k": "6", "m": "3"})),
    ("plain/ weak, nb_copy=2", ("plain", {"weak": "1", "nb_copy": "2"})),
    ("plain", ("plain", {})),
    ("plain/", ("plain", {})),
])
def test_parse_chunk_method(text, expected):
    assert parse_chunk_method(text) == expected


@pytest.mark.parametrize("nb_copy, quorum", [(1, 1), (2, 1), (3, 2), (4, 2),
                                             (5, 3)])
def test_replicated_quorum_is_upstream_one(nb_copy, quorum):
    method = load_methods().load(f"plain/nb_copy={nb_copy}")
    assert (method.ec, method.backblaze, method.type) == (False, False, "plain")
    assert (method.nb_copy, method.expected_chunks, method.quorum,
            method.min_chunks_to_read) == (nb_copy, nb_copy, quorum, 1)


def test_plain_without_copies_means_one():
    assert load_methods().load("plain").nb_copy == 1


def test_ec_parameters():
    method = load_methods().load("ec/algo=liberasurecode_rs_vand,k=6,m=3")
    assert method.ec and method.type == "ec"
    assert (method.ec_type, method.ec_nb_data, method.ec_nb_parity) == (
        "liberasurecode_rs_vand", 6, 3)
    assert (method.quorum, method.expected_chunks,
            method.min_chunks_to_read, method.ec_segment_size) == (
        7, 9, 6, 1048576)


def test_cache_returns_the_same_object():
    methods = load_methods()
    assert methods.load("plain/nb_copy=3") is methods.load("plain/nb_copy=3")
    assert STORAGE_METHODS.load("plain/nb_copy=2").nb_copy == 2


@pytest.mark.parametrize("bad", [
    "ec/k=6,m=3", "ec/algo=x,k=six,m=3", "ec/algo=x,k=0,m=3", "magic/x=1",
    "plain/nb_copy=x", "plain/nb_copy=0", "", "backblaze/account_id=1"])
def test_invalid_chunk_methods(bad):
    with pytest.raises(exc.InvalidStorageMethod):
        load_methods().load(bad)


def test_guess_storage_method_from_url():
    assert guess_storage_method("http://127.0.0.1:6004/AB") == "plain"
    assert guess_storage_method("b2://bucket/x") == "backblaze"
    assert guess_storage_method("kinetic://x") == "kplain"
