"""The account service rebuilder (every container, then those only meta2
knows) and the meta1 rebuilder's input file and command."""

from __future__ import annotations

import pytest

from oio.admin.account_rebuild import AccountServiceRebuilder
from oio.admin.repair import Repairer
from oio.common import exceptions as exc
from oio.rebuilder import meta1_cmd
from oio.rebuilder.meta1_rebuilder import Meta1Rebuilder


class AccountApi:
    """Account `big` with 2,500 containers (3 pages), account `gone` that
    fails its refresh; meta2 also holds `lost/box`, unknown to the account
    service."""

    def __init__(self):
        self.names = [f"c{i:05d}" for i in range(2500)]
        self.refreshed: list[tuple[str, str]] = []
        self.touched: list[tuple[str, str]] = []
        self.account = self

    def account_list(self):
        return ["big", "gone"]

    def account_refresh(self, account):
        if account == "gone":
            raise exc.NotFound(404, None, "no account")

    def container_list(self, account, marker=None, limit=None):
        start = 0 if marker is None else self.names.index(marker) + 1
        return [[n, 0, 0, 0, 0] for n in self.names[start:start + 1000]]

    def container_refresh(self, account, container):
        self.refreshed.append((account, container))

    def container_touch(self, account, container):
        if container == "deleted":
            raise exc.NoSuchContainer("gone")
        if container == "unlinked":
            # A reference whose meta2 was unlinked, as the proxy answers.
            raise exc.Forbidden(403, 431, "No meta2 linked to the container")
        self.touched.append((account, container))


class Conscience:
    def all_services(self, kind):
        return [{"id": "m2-1", "addr": "127.0.0.1:6120"},
                {"id": "m2-2", "addr": "127.0.0.1:6121"}]


class Rdir:
    def meta2_index_fetch_all(self, volume):
        if volume == "m2-2":
            raise exc.ServiceBusy("rdir down")
        yield {"container_url": "NS/big/c00001"}
        yield {"container_url": "NS/lost/box"}
        yield {"container_url": "NS/lost/deleted"}
        yield {"container_url": "NS/lost/unlinked"}
        yield {"container_url": "OTHER/x/y"}


def test_every_container_then_those_only_meta2_knows():
    api = AccountApi()
    rebuilder = AccountServiceRebuilder(api, Repairer(api, None), "NS",
                                        Conscience(), Rdir())
    rows = list(rebuilder.run())
    # No 1000 cap: every page of the listing.
    assert len(api.refreshed) == 2500
    assert rows[0] == ("NS|big", [])
    assert ("NS|big|c02499", []) in rows
    assert [r for r in rows if r[0] == "NS|gone"][0][1]
    # Only the container the account service lacked is touched.
    assert api.touched == [("lost", "box")]
    assert rows[-1] == ("NS|lost|box", [])


def test_meta1_bases_from_an_input_file(tmp_path):
    listing = tmp_path / "cids"
    listing.write_text("# containers\n" + "8D3A" + "0" * 60 + "\n\n"
                       + "8d99" + "1" * 60 + "\nAB\n")
    rebuilder = Meta1Rebuilder(None, None, digits=2)
    assert rebuilder.items_from_file(str(listing)) == ["8D00", "AB00"]
    listing.write_text("not-hex\n")
    with pytest.raises(ValueError, match=":1:"):
        rebuilder.items_from_file(str(listing))


def test_meta1_command_usage_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OIO_SDS_CONF", str(tmp_path / "none"))
    assert meta1_cmd.main(["NOPE_NS"]) == 2
    err = capsys.readouterr().err
    assert "NOPE_NS" in err and "Traceback" not in err
