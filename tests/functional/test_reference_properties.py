"""References and accounts as OpenIO 7.2's own tests see them: properties
of 1 MiB (key or value), an account known once a reference is created in
it."""

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
