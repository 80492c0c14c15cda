"""The rdir service over real sockets (rdir.md §3, §4), its client and its
entry point."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from oio.common import exceptions as exc
from oio.common.utils import cid_from_name
from oio.rdir.app import build_app
from oio.rdir.backend import RdirBackend
from oio.rdir.client import RdirClient
from tests.utils import ServerThread, free_port, wait_until

VOL = "127.0.0.1:6009"
Q = "?vol=" + urllib.parse.quote(VOL, safe="")
M2 = "127.0.0.1:6008"
M2Q = "?vol=" + urllib.parse.quote(M2, safe="")


@pytest.fixture
def rdir(tmp_path):
    backend = RdirBackend(str(tmp_path), service_id="OPENIO-rdir-1")
    with ServerThread(build_app(backend, {"namespace": "OPENIO"}),
                      echo_req_id=True) as server:
        yield server.addr
    backend.close()


@pytest.fixture
def client(rdir):
    return RdirClient({"namespace": "OPENIO"}, rdir_url=rdir,
                      endpoint="http://127.0.0.1:1")


def call(addr, method, path, body=None, raw=None, headers=None):
    data = raw if raw is not None else (
        None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, hdrs, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, payload = err.code, err.headers, err.read()
    return status, hdrs, json.loads(payload) if payload else None


def chunk(cid="C1", content="X", chunk_id="K1", **extra):
    return dict(container_id=cid, content_id=content, chunk_id=chunk_id, **extra)


def test_service_routes(rdir):
    status, _, body = call(rdir, "GET", "/status")
    assert (status, body) == (200, {"opened_db_count": 0,
                                    "service_id": "OPENIO-rdir-1"})
    assert call(rdir, "GET", "/config")[2] == {"namespace": "OPENIO"}
    status, hdrs, _ = call(rdir, "GET", "/status",
                           headers={"x-oio-req-id": "req-rdir-1"})
    assert hdrs["x-oio-req-id"] == "req-rdir-1"


def test_chunk_routes(rdir):
    assert call(rdir, "POST", "/v1/rdir/push" + Q, chunk())[0] == 404
    assert call(rdir, "POST", "/v1/rdir/create" + Q)[:1] == (201,)
    assert call(rdir, "POST", "/v1/rdir/create" + Q)[0] == 201
    assert call(rdir, "GET", "/status")[2]["opened_db_count"] == 1
    for i in range(5):
        status, _, body = call(rdir, "POST", "/v1/rdir/push" + Q,
                               chunk(cid=f"C{i % 2}", chunk_id=f"K{i}",
                                     mtime=100 + i))
        assert (status, body) == (204, None)
    status, hdrs, body = call(rdir, "POST", "/v1/rdir/fetch" + Q, {"limit": 2})
    assert status == 200 and hdrs["Content-Type"] == "application/json"
    assert body == [["C0|X|K0", {"mtime": 100}], ["C0|X|K2", {"mtime": 102}]]
    assert hdrs["x-oio-list-truncated"] == "true"
    assert hdrs["x-oio-list-marker"] == "C0|X|K2"
    status, hdrs, body = call(rdir, "POST", "/v1/rdir/fetch" + Q,
                              {"limit": 2, "start_after": "C0|X|K2"})
    assert [r[0] for r in body] == ["C0|X|K4", "C1|X|K1"]
    # Query parameters win over the body.
    status, hdrs, body = call(rdir, "POST", "/v1/rdir/fetch" + Q +
                              "&prefix=C1&max=10", {"container_id": "C0"})
    assert [r[0] for r in body] == ["C1|X|K1", "C1|X|K3"]
    assert hdrs["x-oio-list-truncated"] == "false"
    assert "x-oio-list-marker" not in hdrs
    # No body at all: the whole volume.
    assert len(call(rdir, "POST", "/v1/rdir/fetch" + Q)[2]) == 5
    status, _, _ = call(rdir, "DELETE", "/v1/rdir/delete" + Q,
                        chunk(cid="C0", chunk_id="K0"))
    assert status == 204
    assert len(call(rdir, "POST", "/v1/rdir/fetch" + Q)[2]) == 4
    for method in ("GET", "POST"):
        status, hdrs, body = call(rdir, method, "/v1/rdir/status" + Q)
        assert status == 200
        assert body == {"chunk": {"total": 4},
                        "container": {"C0": {"total": 2}, "C1": {"total": 2}}}


def test_admin_routes(rdir):
    call(rdir, "POST", "/v1/rdir/create" + Q)
    for i in range(4):
        call(rdir, "POST", "/v1/rdir/push" + Q, chunk(chunk_id=f"K{i}",
                                                       mtime=10 + i))
    status, _, body = call(rdir, "GET", "/v1/rdir/admin/show" + Q)
    assert (status, body) == (200, {})
    assert call(rdir, "GET", "/v1/rdir/admin/incident" + Q)[2] == {"date": 0}
    status, _, body = call(rdir, "POST", "/v1/rdir/fetch" + Q, {"rebuild": True})
    assert (status, body) == (200, [])
    assert call(rdir, "POST", "/v1/rdir/admin/incident" + Q,
                {"date": 11})[0] == 204
    assert call(rdir, "GET", "/v1/rdir/admin/incident" + Q)[2] == {"date": 11}
    body = call(rdir, "POST", "/v1/rdir/fetch" + Q + "&rebuild=1")[2]
    assert [r[0] for r in body] == ["C1|X|K0", "C1|X|K1"]
    body = call(rdir, "GET", "/v1/rdir/status" + Q + "&max=3")[2]
    assert body == {"chunk": {"total": 3, "to_rebuild": 2},
                    "container": {"C1": {"total": 3, "to_rebuild": 2}},
                    "rebuild": {"incident_date": 11}}
    assert call(rdir, "POST", "/v1/rdir/admin/lock" + Q, {"who": "a"})[0] == 204
    status, _, body = call(rdir, "POST", "/v1/rdir/admin/lock" + Q, {"who": "b"})
    assert (status, body) == (403, {"status": 403,
                                    "message": "Already locked by a"})
    assert call(rdir, "GET", "/v1/status" + Q)[2] == {
        "incident_date": "11", "lock": "a"}
    status, _, body = call(rdir, "POST", "/v1/rdir/admin/clear" + Q + "&all=1")
    assert status == 403
    assert call(rdir, "POST", "/v1/rdir/admin/unlock" + Q)[0] == 204
    status, _, body = call(rdir, "POST", "/v1/rdir/admin/clear" + Q +
                           "&before_incident=yes&repair=true")
    assert (status, body) == (200, {"removed": 2, "repaired": 2, "errors": 0})
    assert call(rdir, "GET", "/v1/rdir/admin/show" + Q)[2] == {}
    status, _, body = call(rdir, "POST", "/v1/rdir/admin/clear" + Q + "&all=1")
    assert body == {"removed": 2, "repaired": 0, "errors": 0}


def test_meta2_routes(rdir):
    rec = {"container_id": "ID1", "container_url": "OPENIO/a/c1", "mtime": 5}
    status, _, body = call(rdir, "POST", "/v1/rdir/meta2/fetch" + M2Q, {})
    assert (status, body["status"]) == (400, 400)
    assert call(rdir, "POST", "/v1/rdir/meta2/push" + M2Q + "&create=0",
                rec)[0] == 404
    assert call(rdir, "POST", "/v1/rdir/meta2/delete" + M2Q, rec)[0] == 404
    assert call(rdir, "POST", "/v1/rdir/meta2/create" + M2Q)[0] == 201
    assert call(rdir, "POST", "/v1/rdir/meta2/push" + M2Q, rec)[0] == 204
    status, _, body = call(rdir, "POST", "/v1/rdir/meta2/fetch" + M2Q, {})
    assert body == {"records": [dict(rec, extra_data=None)], "truncated": False}
    assert call(rdir, "POST", "/v1/rdir/meta2/delete" + M2Q, rec)[0] == 204
    assert call(rdir, "POST", "/v1/rdir/meta2/fetch" + M2Q)[2]["records"] == []
    # meta2 indexes are not counted among open volume databases.
    assert call(rdir, "GET", "/status")[2]["opened_db_count"] == 0


@pytest.mark.parametrize("method, path, body, raw, status", [
    ("GET", "/nowhere", None, None, 404),
    ("GET", "/v1/rdir/push/" + Q, None, None, 404),
    ("GET", "/v1/rdir/push" + Q, None, None, 405),
    ("POST", "/v1/rdir/delete" + Q, chunk(), None, 405),
    ("POST", "/v1/rdir/push", chunk(), None, 400),
    ("POST", "/v1/rdir/push?vol=", chunk(), None, 400),
    ("POST", "/v1/rdir/push" + Q + "&create=1", None, b"{not json", 400),
    ("POST", "/v1/rdir/push" + Q + "&create=1", None, None, 400),
    ("POST", "/v1/rdir/push" + Q + "&create=1", [1], None, 400),
    ("POST", "/v1/rdir/push" + Q + "&create=1", {"container_id": "C"}, None, 400),
    ("POST", "/v1/rdir/push" + Q + "&create=1", chunk(mtime="x"), None, 400),
    ("POST", "/v1/rdir/push?vol=..&create=1", chunk(), None, 400),
    ("POST", "/v1/rdir/push?vol=..%2Fescape&create=1", chunk(), None, 400),
    ("POST", "/v1/rdir/create?vol=%2Fetc", None, None, 400),
    ("POST", "/v1/rdir/create?vol=a%00b", None, None, 400),
    ("POST", "/v1/rdir/create?vol=%FF%FE", None, None, 400),
    ("POST", "/v1/rdir/create" + Q, None, b"[1,", 400),
    ("POST", "/v1/rdir/fetch" + Q, {"limit": "x"}, None, 400),
    ("POST", "/v1/rdir/fetch" + Q + "&max=x", None, None, 400),
    ("POST", "/v1/rdir/fetch" + Q, {"rebuild": "yes"}, None, 400),
    ("POST", "/v1/rdir/fetch" + Q, {"start_after": 3}, None, 400),
    ("POST", "/v1/rdir/fetch" + Q, "text", None, 400),
    ("POST", "/v1/rdir/fetch?vol=unknown", None, None, 404),
    ("GET", "/v1/rdir/status?vol=unknown", None, None, 404),
    ("GET", "/v1/rdir/admin/show?vol=unknown", None, None, 404),
    ("POST", "/v1/rdir/admin/lock" + Q, {}, None, 400),
    ("POST", "/v1/rdir/admin/lock?vol=unknown", {"who": "x"}, None, 404),
    ("POST", "/v1/rdir/admin/incident" + Q, {"date": "1"}, None, 400),
    ("POST", "/v1/rdir/admin/incident" + Q, None, None, 400),
    ("POST", "/v1/rdir/admin/clear?vol=unknown", None, None, 404),
    ("POST", "/v1/rdir/meta2/push" + M2Q, {"container_id": "x"}, None, 400),
    ("POST", "/v1/rdir/meta2/fetch" + M2Q, {"limit": []}, None, 400),
    ("POST", "/v1/rdir/meta2/create?vol=../m", None, None, 400),
])
def test_errors(rdir, tmp_path, method, path, body, raw, status):
    call(rdir, "POST", "/v1/rdir/create" + Q)
    call(rdir, "POST", "/v1/rdir/meta2/create" + M2Q)
    got, hdrs, reply = call(rdir, method, path, body, raw)
    assert got == status
    assert hdrs["Content-Type"] == "application/json"
    assert set(reply) == {"status", "message"} and reply["message"]
    assert reply["status"] == (400 if status in (404, 405) and
                               reply["message"] in ("Route not managed",
                                                    "Bad method") else status)
    assert sorted(os.listdir(tmp_path)) == [VOL, "meta2-127.0.0.1-6008"]


def test_client(client, rdir):
    client.create(VOL)
    for i in range(7):
        client.chunk_push(VOL, f"C{i % 2}", "X", f"K{i}", mtime=100 + i)
    chunks = list(client.chunk_fetch(VOL, limit=2))
    assert len(chunks) == 7 and chunks[0] == ("C0", "X", "K0", {"mtime": 100})
    assert [c[2] for c in client.chunk_fetch(VOL, container_id="C1", limit=1)] \
        == ["K1", "K3", "K5"]
    assert [c[2] for c in client.chunk_fetch(VOL, start_after="C1|X|K3")] == ["K5"]
    urls = [c[2] for c in client.chunk_fetch(VOL, full_urls=True, limit=3)]
    assert urls[0] == f"http://{VOL}/K0"
    client.chunk_delete(VOL, "C0", "X", "K0")
    assert client.admin_incident_get(VOL) == 0
    client.admin_incident_set(VOL, 103.7)
    assert client.admin_incident_get(VOL) == 103
    assert [c[2] for c in client.chunk_fetch(VOL, rebuild=True)] == [
        "K2", "K1", "K3"]
    assert client.status(VOL, max=2) == {
        "chunk": {"total": 6, "to_rebuild": 3},
        "container": {"C0": {"total": 3, "to_rebuild": 1},
                      "C1": {"total": 3, "to_rebuild": 2}}}
    assert client.chunk_status(VOL)["chunk"]["total"] == 6
    client.admin_lock(VOL, "me")
    with pytest.raises(exc.Forbidden):
        client.admin_lock(VOL, "you")
    assert client.admin_show(VOL) == {"lock": "me", "incident_date": "103"}
    client.admin_unlock(VOL)
    assert client.admin_clear(VOL, before_incident=True) == {
        "removed": 3, "repaired": 0, "errors": 0}
    assert client.admin_clear(VOL, clear_all=True)["removed"] == 3
    with pytest.raises(exc.NotFound):
        client.admin_show("unknown")
    with pytest.raises(exc.BadRequest):
        client.chunk_push(VOL, "C|1", "X", "K")


def test_push_many_is_one_transaction(client, rdir):
    records = [{"container_id": "C", "content_id": "X", "chunk_id": f"K{i}",
                "mtime": 5} for i in range(3)]
    client.chunk_push_many(VOL, records)            # creates the volume
    assert [c[2] for c in client.chunk_fetch(VOL)] == ["K0", "K1", "K2"]
    # One bad record: the list is refused whole...
    bad = [dict(records[0], chunk_id="K3"), dict(records[0], chunk_id="")]
    status, _, reply = call(rdir, "POST", "/v1/rdir/push" + Q, bad)
    assert status == 400 and reply["message"]
    assert len(list(client.chunk_fetch(VOL))) == 3
    # ...and the client then pushes the records one by one: the good one
    # is kept, the bad one raised.
    with pytest.raises(exc.BadRequest):
        client.chunk_push_many(VOL, bad)
    assert [c[2] for c in client.chunk_fetch(VOL)] == ["K0", "K1", "K2", "K3"]


def test_client_meta2(client):
    for i in range(5):
        client.meta2_index_push(M2, f"OPENIO/acct/c{i}", f"ID{i}", 10 + i,
                                extra_data="e" if i == 0 else None)
    page = client.meta2_index_fetch(M2, prefix="OPENIO/acct/", limit=1)
    assert page["truncated"] is True
    assert page["records"][0]["extra_data"] == "e"
    records = list(client.meta2_index_fetch_all(M2, limit=1))
    assert [r["container_url"] for r in records] == [
        f"OPENIO/acct/c{i}" for i in range(5)]
    client.meta2_index_delete(M2, container_path="OPENIO/acct/c0")
    client.meta2_index_delete(M2, container_path="OPENIO/acct/c1",
                              container_id=cid_from_name("acct", "c1"))
    assert len(client.meta2_index_fetch(M2)["records"]) == 3
    with pytest.raises(ValueError):
        client.meta2_index_delete(M2)


def test_client_resolution(rdir):
    """Without rdir_url the rdir is found in the directory, through the
    proxy (here a stub answering reference/show)."""
    from oio.common.http_server import Request, json_response

    seen = []

    async def proxy(req: Request):
        seen.append((req.path, dict(req.args)))
        if req.args.get("ref") == VOL:
            return json_response({"dir": [], "srv": [
                {"seq": 1, "type": "rdir", "host": rdir, "args": ""}]})
        return json_response({"status": 406, "message": "no"}, 404)

    with ServerThread(proxy) as stub:
        client = RdirClient({"namespace": "OPENIO"},
                            endpoint=f"http://{stub.addr}")
        client.create(VOL)
        client.chunk_push(VOL, "C", "X", "K")
        assert list(client.chunk_fetch(VOL)) == [("C", "X", "K", {"mtime": 0})]
        with pytest.raises(exc.VolumeException):
            client.admin_show("other")
    assert len([s for s in seen if s[1].get("ref") == VOL]) == 1   # cached
    assert seen[0][0] == "/v3.0/OPENIO/reference/show"
    assert seen[0][1] == {"acct": "_RDIR", "ref": VOL, "type": "rdir"}


def test_main_subprocess(tmp_path):
    db_path = tmp_path / "rdir-1"
    db_path.mkdir()
    port = free_port()
    conf = tmp_path / "rdir.conf"
    conf.write_text(f"[rdir-server]\nbind_addr = 127.0.0.1\nbind_port = {port}\n"
                    f"namespace = OPENIO\ndb_path = {db_path}\n"
                    "service_id = OPENIO-rdir-1\nworkers = 1\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys; from oio.rdir.server import main; "
                             "sys.exit(main())", str(conf)],
                            env=env, stderr=subprocess.PIPE)
    addr = f"127.0.0.1:{port}"
    try:
        def up():
            try:
                return call(addr, "GET", "/status")[2]
            except OSError:
                return None
        assert wait_until(up)["service_id"] == "OPENIO-rdir-1"
        client = RdirClient({"namespace": "OPENIO"}, rdir_url=addr,
                            endpoint="http://127.0.0.1:1")
        client.chunk_push(VOL, "C", "X", "K", mtime=1)
        assert os.path.isdir(db_path / VOL)
        try:
            assert os.getxattr(db_path, "user.server.type") == b"rdir"
            assert os.getxattr(db_path, "user.server.id") == addr.encode()
        except OSError:
            pass    # no xattrs on this filesystem
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
    # Restarted, the record is still there.
    proc = subprocess.Popen([sys.executable, "-m", "oio.rdir.server", str(conf)],
                            env=env, stderr=subprocess.PIPE)
    try:
        wait_until(up)
        assert list(client.chunk_fetch(VOL)) == [("C", "X", "K", {"mtime": 1})]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


@pytest.mark.parametrize("content, message", [
    ("[rdir-server]\nbind_addr = 127.0.0.1\nbind_port = 1\nnamespace = N\n",
     "db_path"),
    ("[rdir-server]\nbind_addr = 127.0.0.1\nbind_port = 1\nnamespace = N\n"
     "db_path = /nonexistent/rdir\n", "existing directory"),
    ("[other]\n", "No section"),
])
def test_main_bad_config(tmp_path, capsys, content, message):
    from oio.rdir.server import main

    conf = tmp_path / "rdir.conf"
    conf.write_text(content)
    assert main([str(conf)]) == 2
    assert message in capsys.readouterr().err


def test_main_refuses_foreign_volume(tmp_path, capsys):
    from oio.rdir.server import main

    try:
        os.setxattr(tmp_path, "user.server.type", b"rawx")
    except OSError:
        pytest.skip("no user xattrs here")
    conf = tmp_path / "rdir.conf"
    conf.write_text(f"[rdir-server]\nbind_addr = 127.0.0.1\nbind_port = 1\n"
                    f"namespace = N\ndb_path = {tmp_path}\n")
    assert main([str(conf)]) == 2
    assert "another service" in capsys.readouterr().err
