"""Every example of docs/api.md's reference runs against the sandbox, in an
order where each finds what it needs, so the documentation stays true."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from tests.utils import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"

ORDER = """
container_create container_create_many container_show container_get_properties
container_set_properties container_del_properties container_update
container_list container_touch container_refresh object_create
object_create_ext object_fetch object_get_properties object_show
object_set_properties object_del_properties object_update object_head
object_exists object_list object_locate object_analyze object_touch
object_link object_fastcopy object_truncate object_change_policy resolve_cid
blob_client proxy_client container_snapshot object_drain object_delete
object_delete_many container_purge container_flush account_create
account_show account_get_properties account_set_properties
account_del_properties account_list account_refresh all_accounts_refresh
container_delete account_flush account_delete
""".split()


def doc_examples() -> dict[str, list[str]]:
    text = DOC.read_text()
    table = text[text.index("### Accounts"):text.index("### `perfdata`")]
    examples = {}
    for row in table.splitlines():
        match = re.match(r"\| `(\w+)[`(]", row)
        if match:
            cells = row.split(" | ")
            examples[match.group(1)] = re.findall(r"`([^`]+)`", cells[1])
    return examples


def test_every_method_has_an_example():
    from oio import ObjectStorageApi

    public = {n for n in dir(ObjectStorageApi) if not n.startswith("_")
              and n != "EXTRA_KEYWORDS"} | {"blob_client"}
    assert public <= set(doc_examples()), public - set(doc_examples())
    assert set(ORDER) == set(doc_examples())


def test_doc_examples_run(namespace, tmp_path):
    account = f"team-{uuid.uuid4().hex[:6]}"
    magic = tmp_path / "magic"
    magic.write_bytes(b"# a small file to upload\n" * 5)
    env = {"api": namespace.api(), "exc": exc, "cid_from_name": cid_from_name}
    examples = doc_examples()
    for method in ORDER:
        for code in examples[method]:
            code = code.replace('"team"', repr(account)).replace(
                '"/etc/magic"', repr(str(magic)))
            if method == "container_list":
                # The account learns about containers asynchronously.
                wait_until(lambda: _listed(env["api"], account), timeout=10)
            if method == "account_flush":
                # The busy container's last events (its state, then its
                # deletion) must land before the flush, or they would list it
                # again after and account_delete would find it.
                wait_until(lambda: "docs" not in _names(env["api"], account),
                           timeout=10)
            try:
                exec(compile(code, f"docs/api.md:{method}", "exec"), env)
            except Exception as err:  # noqa: BLE001 - report which example
                pytest.fail(f"{method}: {code!r} raised {err!r}")


def _listed(api, account) -> bool:
    try:
        return bool(api.container_list(account))
    except exc.NoSuchAccount:
        return False



def _names(api, account) -> list[str]:
    return [row[0] for row in api.container_list(account)]
