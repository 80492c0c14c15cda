"""oio-blob-converter and oio-blob-registrator on a real volume directory,
with an in-memory stand-in of meta2 (ContainerClient) and rdir."""

from __future__ import annotations

import os
import tempfile

import pytest

from oio.blob import chunk_meta as cm
from oio.blob import converter as conv
from oio.blob import registrator as reg
from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from oio.common.volume import lock_volume, read_volume

VOL_ID = "127.0.0.1:6010"
CID = cid_from_name("acct", "box")
CONTENT = "C0FFEE" * 4


class Meta2:
    """One container `acct/box` whose contents are given as
    {content id: (name, version, [chunk urls])}; records what the tools
    write."""

    def __init__(self, contents=None):
        self.contents = dict(contents or {})
        self.inserted: list[dict] = []
        self.updated: list[tuple] = []
        self.locates = 0

    def container_get_properties(self, cid=None):
        if cid != CID:
            raise exc.NotFound(404, None, "no container")
        return {"system": {"sys.account": "acct", "sys.user.name": "box"}}

    def content_locate(self, cid=None, content=None, path=None, version=None,
                       properties=True):
        self.locates += 1
        for cid_, (name, vers, urls) in self.contents.items():
            if content in (None, cid_) and path in (None, name):
                meta = {"id": cid_, "name": name, "version": vers,
                        "policy": "SINGLE", "chunk_method": "plain/nb_copy=1",
                        "length": "4", "hash": "AA" * 16}
                return meta, [{"url": u, "pos": "0", "size": 4,
                               "hash": "A" * 32} for u in urls]
        raise exc.NotFound(404, None, "no content")

    def container_raw_insert(self, bean, cid=None):
        if cid != CID:
            raise exc.NotFound(404, None, "no container")
        key = (bean["type"], bean.get("id"), bean.get("name"))
        if any((b["type"], b.get("id"), b.get("name")) == key
               for b in self.inserted):
            raise exc.Conflict(409, None, "exists")
        self.inserted.append(bean)

    def container_raw_update(self, old, new, cid=None):
        self.updated.append((old, new))


class Rdir:
    def __init__(self, records):
        self.records = records

    def chunk_fetch(self, volume):
        yield from self.records


@pytest.fixture
def volume():
    tmp = "/var/tmp" if os.path.isdir("/var/tmp") else None
    with tempfile.TemporaryDirectory(dir=tmp) as path:
        if not lock_volume(path, "OPENIO", VOL_ID, "rawx"):
            pytest.skip("no user xattrs here")
        yield read_volume(path, "rawx")


def chunk_file(volume, attrs: dict[str, str], chunk_id: str | None = None
               ) -> tuple[str, str]:
    chunk_id = chunk_id or os.urandom(32).hex().upper()
    os.makedirs(os.path.join(volume.path, chunk_id[:3]), exist_ok=True)
    path = os.path.join(volume.path, chunk_id[:3], chunk_id)
    with open(path, "wb") as out:
        out.write(b"data")
    base = {cm.X_CHUNK_HASH: "A" * 32, cm.X_CHUNK_SIZE: "4",
            cm.X_CHUNK_POS: "0", cm.X_CHUNK_METHOD: "plain/nb_copy=1",
            cm.X_POLICY: "SINGLE"}
    for key, value in {**base, **attrs}.items():
        os.setxattr(path, key.replace("<ID>", chunk_id),
                    value.replace("<ID>", chunk_id).encode())
    return path, chunk_id


def xattrs(path: str) -> dict[str, str]:
    return {k: os.getxattr(path, k).decode() for k in os.listxattr(path)}


def url(chunk_id: str) -> str:
    return f"http://{VOL_ID}/{chunk_id}"


def converter(volume, meta2, tmp_path, rdir=None, **kw):
    return conv.BlobConverter(volume, conv.Resolver(meta2, rdir, VOL_ID),
                              backup_dir=str(tmp_path), **kw)


# Converter -----------------------------------------------------------------
def legacy(chunk_id_key=True, content_id=True) -> dict[str, str]:
    out = {cm.X_LEGACY_CONTAINER: CID, cm.X_LEGACY_PATH: "my obj",
           cm.X_LEGACY_VERSION: "5"}
    if chunk_id_key:
        out[cm.X_LEGACY_CHUNK_ID] = "<ID>"
    if content_id:
        out[cm.X_LEGACY_CONTENT_ID] = CONTENT
    return out


def test_legacy_keys_become_a_fullpath_with_a_backup(volume, tmp_path):
    path, chunk_id = chunk_file(volume, legacy())
    meta2 = Meta2({CONTENT: ("my obj", 5, [url(chunk_id)])})
    stats = converter(volume, meta2, tmp_path).run()
    assert stats["converted"] == 1 and stats["errors"] == 0
    after = xattrs(path)
    assert after[cm.XATTR_FULLPATH + chunk_id] == f"acct/box/my%20obj/5/{CONTENT}"
    assert after[cm.X_OIO_VERSION] == "4.2"
    assert not set(conv.LEGACY_KEYS) & set(after)
    backups = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert len(backups) == 1 and backups[0].endswith(f"/{chunk_id[:3]}/{chunk_id}")
    text = open(backups[0]).read()
    assert text.startswith(f"# file: {path}\n")
    assert f'{cm.X_LEGACY_CONTAINER}="{CID}"' in text
    # A second pass leaves it alone.
    again = converter(volume, meta2, tmp_path).run()
    assert again["skipped"] == 1 and again["converted"] == 0


def test_old_fullpath_keys_for_the_file_and_its_link(volume, tmp_path):
    path, chunk_id = chunk_file(volume, {"user.oio:<ID>": "acct/box/my+obj/5"})
    link_id = os.urandom(32).hex().upper()
    os.makedirs(os.path.join(volume.path, link_id[:3]), exist_ok=True)
    os.link(path, os.path.join(volume.path, link_id[:3], link_id))
    os.setxattr(path, "user.oio:" + link_id,
                f"acct/box/my%20obj/5/{CONTENT}".encode())
    meta2 = Meta2({CONTENT: ("my obj", 5, [url(chunk_id), url(link_id)])})
    stats = converter(volume, meta2, tmp_path, no_backup=True).run(
        input_file=None)
    assert stats["errors"] == 0
    after = xattrs(path)
    assert after[cm.XATTR_FULLPATH + chunk_id].endswith(f"/5/{CONTENT}")
    assert after[cm.XATTR_FULLPATH + link_id].endswith(f"/5/{CONTENT}")
    assert not [k for k in after if k.startswith("user.oio:")]
    assert not os.path.exists(tmp_path / f"backup_{VOL_ID}")


def test_orphan_keeps_its_old_keys_and_counts_an_error(volume, tmp_path):
    path, chunk_id = chunk_file(volume, legacy())
    meta2 = Meta2({CONTENT: ("my obj", 5, [url("0" * 64)])})
    stats = converter(volume, meta2, tmp_path).run()
    assert stats["errors"] == 1
    after = xattrs(path)
    assert cm.X_LEGACY_CONTAINER in after and cm.X_OIO_VERSION not in after


def test_dry_run_changes_nothing(volume, tmp_path):
    path, chunk_id = chunk_file(volume, legacy(content_id=False))
    before = xattrs(path)
    meta2 = Meta2({CONTENT: ("my obj", 5, [url(chunk_id)])})
    stats = converter(volume, meta2, tmp_path, dry_run=True).run()
    assert stats["converted"] == 1 and xattrs(path) == before
    assert not os.listdir(tmp_path)


def test_no_xattr_at_all_recovers_from_rdir(volume, tmp_path):
    path, chunk_id = chunk_file(volume, {})
    meta2 = Meta2({CONTENT: ("o", 5, [url(chunk_id)])})
    rdir = Rdir([(CID, CONTENT, chunk_id, {})])
    assert converter(volume, meta2, tmp_path, rdir=rdir).run()["errors"] == 0
    assert xattrs(path)[cm.XATTR_FULLPATH + chunk_id] == f"acct/box/o/5/{CONTENT}"


def test_input_file_and_rate_really_applies(volume, tmp_path):
    paths = [chunk_file(volume, legacy()) for _ in range(3)]
    meta2 = Meta2({CONTENT: ("my obj", 5, [url(c) for _, c in paths])})
    listing = tmp_path / "list"
    listing.write_text("# only one\n\n" + os.path.relpath(
        paths[1][0], volume.path) + "\n")
    slept: list[float] = []
    stats = converter(volume, meta2, tmp_path, chunks_per_second=0).run(
        input_file=str(listing))
    assert stats["chunks"] == 1 and stats["converted"] == 1
    conv_ = converter(volume, meta2, tmp_path, chunks_per_second=5,
                      sleep=slept.append)
    conv_.run()
    # 3 chunks at 5/s: the 2nd and 3rd wait for their turn (the fake
    # sleep does not move the clock, so the 3rd waits for both).
    assert len(slept) == 2 and 0.1 < slept[0] <= 0.2 < slept[1] <= 0.4


def test_main_refuses_what_is_not_a_volume(tmp_path, capsys):
    assert conv.main(["OPENIO", str(tmp_path)]) == 2
    assert "no user.server" in capsys.readouterr().err
    assert reg.main(["OPENIO", "insert", str(tmp_path / "nope")]) == 2


# Registrator ---------------------------------------------------------------
def fullpath_chunk(volume, name="obj", version=5, ec=False):
    attrs = {cm.XATTR_FULLPATH + "<ID>": f"acct/box/{name}/{version}/{CONTENT}"}
    if ec:
        attrs.update({cm.X_MC_HASH: "b" * 32, cm.X_MC_SIZE: "40",
                      cm.X_CHUNK_POS: "0.1",
                      cm.X_CHUNK_METHOD: "ec/algo=liberasurecode_rs_vand,k=2,m=1"})
    return chunk_file(volume, attrs)


def test_insert_three_beans_per_chunk(volume):
    _, first = fullpath_chunk(volume)
    _, second = fullpath_chunk(volume, ec=True)
    meta2 = Meta2()
    registrator = reg.BlobRegistrator(meta2, volume, "insert",
                                      chunks_per_second=0)
    registrator.run()
    kinds = [b["type"] for b in meta2.inserted]
    # The header and alias of the 2nd chunk already exist (same object).
    assert kinds == ["header", "alias", "chunk", "chunk"]
    stats = registrator.stats
    assert stats["bean_alias_already_exists"] == 1
    assert stats["bean_chunk_successes"] == 2 and registrator.success
    alias, header = meta2.inserted[1], meta2.inserted[0]
    assert alias["name"] == "obj" and alias["version"] == 5
    assert alias["header"] == CONTENT and alias["deleted"] is False
    assert header["size"] == 0 and header["mime-type"] == reg.MIME_TYPE
    chunks = {b["id"]: b for b in meta2.inserted if b["type"] == "chunk"}
    assert chunks[url(first)]["size"] == 4
    ec = chunks[url(second)]
    # EC: meta2 keeps the metachunk's size and hash.
    assert ec["size"] == 40 and ec["hash"] == "B" * 32 and ec["pos"] == "0.1"


def test_cids_select_containers(volume):
    fullpath_chunk(volume)
    other = Meta2()
    skipping = reg.BlobRegistrator(other, volume, "insert", ["B" * 64],
                                   chunks_per_second=0)
    skipping.run()
    assert other.inserted == [] and skipping.stats["skipped"] == 1
    selected = Meta2()
    reg.BlobRegistrator(selected, volume, "insert", [CID.lower()],
                        chunks_per_second=0).run()
    assert len(selected.inserted) == 3


def test_update_keeps_the_header_size(volume):
    _, chunk_id = fullpath_chunk(volume)
    meta2 = Meta2({CONTENT: ("obj", 5, [url(chunk_id)])})
    reg.BlobRegistrator(meta2, volume, "update", chunks_per_second=0).run()
    old, new = meta2.updated[0]
    assert old == new and old[0]["type"] == "header"
    assert old[0]["size"] == 4 and old[0]["hash"] == "AA" * 16


def test_check_reports_missing_and_different(volume, caplog):
    _, chunk_id = fullpath_chunk(volume)
    meta2 = Meta2({CONTENT: ("obj", 5, [url(chunk_id)])})
    good = reg.BlobRegistrator(meta2, volume, "check", chunks_per_second=0)
    good.run()
    assert good.success and good.stats["bean_chunk_successes"] == 1
    assert meta2.locates == 1          # one locate per content
    meta2.contents[CONTENT] = ("renamed", 5, [])
    bad = reg.BlobRegistrator(meta2, volume, "check", chunks_per_second=0)
    bad.run()
    assert not bad.success
    assert bad.stats["bean_alias_errors"] == 1
    assert bad.stats["bean_chunk_orphans"] == 1
    assert "meta2 has 'renamed', the chunk says 'obj'" in caplog.text


def test_chunk_without_xattrs_is_a_chunk_error(volume):
    chunk_id = os.urandom(32).hex().upper()
    os.makedirs(os.path.join(volume.path, chunk_id[:3]))
    open(os.path.join(volume.path, chunk_id[:3], chunk_id), "wb").close()
    registrator = reg.BlobRegistrator(Meta2(), volume, "insert",
                                      chunks_per_second=0)
    registrator.run()
    assert registrator.stats["chunk_errors"] == 1 and not registrator.success
