"""Raw alias, header and chunk beans (proxy-api.md §3.6): parsing at the
edge and meta2's raw_insert / raw_update / raw_delete, on real SQLite."""

import pytest

from oio.common.utils import cid_from_name
from oio.container.events import RecordingNotifier
from oio.container.meta2 import Meta2, Meta2Error
from oio.container.raw_beans import parse_raw_beans, parse_raw_update

from .meta2_fakes import FakeNsInfo

CID = cid_from_name("acct", "raw")
CONTENT = "0A" * 16
URL = "http://127.0.0.1:6010/" + "B" * 64


@pytest.fixture
def m2(tmp_path):
    svc = Meta2(str(tmp_path), "OPENIO", FakeNsInfo(),
                events=RecordingNotifier())
    svc.container_create(CID, "acct", "raw")
    yield svc
    svc.close()


def alias(**kw):
    return {"type": "alias", "name": "obj", "version": 7, "header": CONTENT,
            "ctime": 1, "mtime": 1, "deleted": False, **kw}


def header(**kw):
    return {"type": "header", "id": CONTENT, "size": 4, "policy": "SINGLE",
            "chunk-method": "plain/nb_copy=1",
            "mime-type": "application/octet-stream", **kw}


def chunk(**kw):
    return {"type": "chunk", "id": URL, "hash": "A" * 32, "size": 4,
            "pos": "0", "content": CONTENT, **kw}


def beans(*raw):
    return parse_raw_beans(list(raw), 100)


def status(exc_info) -> int:
    return exc_info.value.status


@pytest.mark.parametrize("bad", [
    chunk(size="4"), chunk(pos=0), chunk(content="XYZ"), chunk(hash="nothex"),
    alias(version="7"), alias(header="zz"), alias(deleted="false"),
    alias(name=3), header(size="0"), header(hash="AB"), header(id=""),
    header(**{"chunk-method": None}), {"type": "property", "key": "k"},
    {"id": URL}, "chunk",
])
def test_wrong_types_are_refused_at_the_edge(bad):
    with pytest.raises(Meta2Error) as exc:
        parse_raw_beans([bad], 0)
    assert status(exc) == 400


def test_type_is_case_insensitive_and_defaults_apply():
    parsed = parse_raw_beans([{"type": "ALIAS", "name": "o", "version": 1,
                               "header": "ab"},
                              {"type": "Header", "id": "ab",
                               "chunk-method": "m", "mime-type": "t"}], 42)
    assert parsed[0].record.ctime == 42 and parsed[0].record.deleted is False
    assert parsed[0].record.content == "AB"
    assert parsed[1].record.size == 0 and parsed[1].record.policy == ""


def test_update_pairs_must_be_of_the_same_kind():
    with pytest.raises(Meta2Error) as exc:
        parse_raw_update({"old": [alias()], "new": [header()]}, 0)
    assert status(exc) == 400
    for body in ({"old": [], "new": []}, {"old": [chunk()]},
                 {"old": [chunk()], "new": [chunk(), chunk()]}, [chunk()]):
        with pytest.raises(Meta2Error):
            parse_raw_update(body, 0)


def test_insert_alias_header_and_chunk_in_one_request(m2):
    # Any order: the header is written before what needs it.
    m2.raw_insert(CID, beans(chunk(), alias(), header()))
    found = m2.content_locate(CID, "obj")
    assert found.alias.version == 7 and found.alias.content == CONTENT
    assert found.header.policy == "SINGLE" and found.header.size == 4
    assert [c.id for c in found.chunks] == [URL]


def test_insert_is_all_or_nothing(m2):
    other = "0B" * 16
    with pytest.raises(Meta2Error) as exc:
        # The alias names a content without header: nothing is written.
        m2.raw_insert(CID, beans(chunk(), alias(header=other)))
    assert status(exc) == 420
    m2.raw_insert(CID, beans(header(), alias()))
    assert m2.content_locate(CID, "obj").chunks == []


def test_chunk_without_header_is_stored(m2):
    # As 7.2: a chunk record may come before (or without) its header.
    m2.raw_insert(CID, beans(chunk()))
    m2.raw_insert(CID, beans(header(), alias()))
    assert [c.id for c in m2.content_locate(CID, "obj").chunks] == [URL]


def test_insert_conflicts_unless_forced(m2):
    m2.raw_insert(CID, beans(header(), alias(), chunk()))
    for bean in (header(), alias(), chunk()):
        with pytest.raises(Meta2Error) as exc:
            m2.raw_insert(CID, beans(bean))
        assert status(exc) == 421
    m2.raw_insert(CID, beans(header(size=9), chunk(size=9)), force=True)
    found = m2.content_locate(CID, "obj")
    assert found.header.size == 9 and found.chunks[0].size == 9


def test_alias_needs_its_header(m2):
    with pytest.raises(Meta2Error) as exc:
        m2.raw_insert(CID, beans(alias()))
    assert status(exc) == 420


def test_update_each_kind_and_404_when_gone(m2):
    m2.raw_insert(CID, beans(header(), alias(), chunk()))
    m2.raw_update(CID, beans(alias(), header(), chunk()),
                  beans(alias(mtime=5), header(size=8),
                        chunk(id=URL[:-1] + "C")))
    found = m2.content_locate(CID, "obj")
    assert found.alias.mtime == 5 and found.header.size == 8
    assert [c.id for c in found.chunks] == [URL[:-1] + "C"]
    # The old chunk record is gone: the whole update fails.
    with pytest.raises(Meta2Error) as exc:
        m2.raw_update(CID, beans(header(size=8), chunk()),
                      beans(header(size=1), chunk(id=URL[:-1] + "D")))
    assert status(exc) == 420
    assert m2.content_locate(CID, "obj").header.size == 8


def test_delete_any_kind(m2):
    m2.raw_insert(CID, beans(header(), alias(), chunk()))
    m2.raw_delete(CID, beans(chunk(), alias(), header(), alias(version=99)))
    with pytest.raises(Meta2Error):
        m2.content_locate(CID, "obj")
