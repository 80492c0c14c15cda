"""Properties as OpenIO 7.2's own tests see them: references, accounts and
objects keep keys and values of 1 MiB, and property names their case; an
account is known once a reference is created in it."""

import uuid

import pytest

from oio.common import exceptions as exc
from oio.sandbox.sandbox import wait_for

MIB = 1 << 20


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("key, value", [("k" * MIB, "v"), ("key", "v" * MIB),
                                        ("k" * 65536, "v")])
def test_reference_properties_of_a_mebibyte(namespace, key, value):
    api = namespace.api()
    account, ref = _name("acct"), _name("ref")
    api.directory.create(account, ref)
    try:
        api.directory.set_properties(account, ref, {key: value})
        got = api.directory.get_properties(account, ref)["properties"]
        assert got == {key: value}
        api.directory.del_properties(account, ref, [key])
        assert api.directory.get_properties(account, ref)["properties"] == {}
    finally:
        api.directory.delete(account, ref)


@pytest.mark.parametrize("key, value", [("k" * MIB, "v"), ("key", "v" * MIB)])
def test_account_properties_of_a_mebibyte(namespace, key, value):
    api = namespace.api()
    account = _name("acct")
    api.account_create(account)
    try:
        api.account_set_properties(account, {key: value})
        assert api.account_get_properties(account)["properties"] == \
            {key: value}
    finally:
        api.account_delete(account)


def test_a_reference_makes_its_account_known(namespace):
    if not namespace.settings.beanstalkd:
        pytest.skip("needs beanstalkd and the event agent")
    api = namespace.api()
    account, ref = _name("acct"), _name("ref")
    with pytest.raises(exc.NotFound):
        api.account.account_show(account)
    api.directory.create(account, ref)
    try:
        def known():
            try:
                return api.account.account_show(account)["id"] == account
            except exc.NotFound:
                return False
        wait_for(known, 15, f"account {account} created by the event agent")
    finally:
        api.directory.delete(account, ref)


@pytest.mark.parametrize("key, value", [
    ("MiXed-Case", "v"), ("K" * 65535, "v"), ("Key", "v" * MIB),
    ("k" * MIB, "v")])
def test_object_properties_through_locate(namespace, key, value):
    """object_locate carries properties in reply headers: names keep their
    case through the proxy, and properties too big for headers come from
    get_properties instead."""
    api = namespace.api()
    account, name = _name("acct"), _name("obj")
    api.object_create(account, "props", data=b"x", obj_name=name)
    try:
        api.object_set_properties(account, "props", name, {key: value})
        meta, chunks = api.object_locate(account, "props", name)
        assert meta["properties"] == {key: value}
        assert chunks
        got = api.object_get_properties(account, "props", name)
        assert got["properties"] == {key: value}
    finally:
        api.object_delete(account, "props", name)
