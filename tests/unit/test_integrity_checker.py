"""oio.crawler.integrity.Checker against an in-memory fake of the API."""

from __future__ import annotations

from oio.common import exceptions as exc
from oio.crawler.integrity import Checker, Target

EC = "ec/algo=liberasurecode_rs_vand,k=2,m=1"


class FakeBlob:
    def __init__(self, heads: dict):
        self.heads = heads

    def chunk_head(self, url, xattr=True, check_hash=False):
        found = self.heads.get(url)
        if found is None:
            raise exc.NotFound(404, None, "no chunk")
        return found


class FakeApi:
    """One account `a`, one container `c`, one object `o` of 3 fragments."""

    def __init__(self, chunks: list[dict], heads: dict):
        self.chunks = chunks
        self.blob_client = FakeBlob(heads)

    def container_list(self, account, marker=None, limit=None):
        return [] if marker else [["c", 1, 10, 0, 0]]

    def object_list(self, account, container, marker=None, versions=False,
                    limit=None):
        return {"objects": [{"name": "o", "version": 1, "id": "ID"}],
                "truncated": False}

    def object_locate(self, account, container, obj, version=None,
                      properties=False):
        return ({"id": "ID", "version": 1, "chunk_method": EC, "length": 10},
                self.chunks)


def _chunk(sub: int) -> dict:
    return {"url": f"http://r{sub}/C{sub}", "pos": f"0.{sub}", "size": 10,
            "hash": "AB"}


def _head() -> dict:
    return {"metachunk_size": "10", "metachunk_hash": "ab"}


def _run(api, target, depth) -> dict[str, Target]:
    checker = Checker(api, concurrency=4)
    checker.check(target, depth)
    return {repr(t): t for t in checker.run()}


def test_healthy_object_and_item_names():
    chunks = [_chunk(i) for i in range(3)]
    api = FakeApi(chunks, {c["url"]: _head() for c in chunks})
    results = _run(api, Target("a", "c", "o"), 4)
    assert all(not t.has_errors for t in results.values())
    assert "chunk=http://r0/C0" in results
    assert any(name.startswith("account=a, container=c, cid=")
               and name.endswith("obj=o, content_id=ID, version=1")
               for name in results)


def test_missing_and_lost_fragments():
    chunks = [_chunk(0), _chunk(1)]              # fragment 2 not in meta2
    api = FakeApi(chunks, {chunks[0]["url"]: _head()})   # C1 lost
    results = _run(api, Target("a", "c", "o"), 4)
    (obj,) = [t for t in results.values() if t.type == "object"]
    errors = obj.latest_error_result().errors
    assert "Missing chunk at position 0.2" in errors
    assert "Unusable chunk http://r1/C1 at position 0.1" in errors
    # 1 of 3 fragments left, 2 needed: irreparable.
    assert any(e.startswith("Unavailable metachunk at position 0") for e in errors)
    assert results["chunk=http://r1/C1"].irreparable
    assert not results["chunk=http://r0/C0"].has_errors


def test_xattr_mismatch_and_depth():
    chunks = [_chunk(i) for i in range(3)]
    heads = {c["url"]: _head() for c in chunks}
    heads[chunks[2]["url"]] = {"metachunk_size": "11", "metachunk_hash": "ab"}
    api = FakeApi(chunks, heads)
    errors = _run(api, Target("a", "c", "o"), 4)[
        "chunk=http://r2/C2"].latest_error_result().errors
    assert errors == ["'metachunk_size' xattr (11) differs from size in "
                      "meta2 (10)"]
    # Depth 1 from the container: the object, not its chunks.
    shallow = _run(api, Target("a", "c"), 1)
    assert sorted(t.type for t in shallow.values()) == [
        "account", "container", "object"]
