#!/usr/bin/env python3
"""Drive a running namespace with OpenIO's own 7.2 Python client.

Nothing of upstream lives in this repository: export it yourself, outside
of it, and run this script with that client on the path:

    git -C <oio-sds clone> archive 7.2.0 oio | tar -x -C /tmp/upstream
    python3 -m venv /tmp/upvenv
    /tmp/upvenv/bin/pip install "urllib3<1.25" six "eventlet<0.34" \
        simplejson pbr pyyaml
    oio-sandbox up            # ~/.oio/sds.conf points the client at our proxy
    PBR_VERSION=7.2.0 PYTHONPATH=/tmp/upstream \
        /tmp/upvenv/bin/python scripts/upstream-compat.py

Each step prints ok or FAIL with what it got; the exit code counts the
unexpected failures.
"""
import os
import sys
import time

from oio import ObjectStorageApi
from oio.common import exceptions as exc
from oio.common.utils import cid_from_name

api = ObjectStorageApi("OPENIO")
A, C = "upacct", f"upct-{int(time.time())}"
data = os.urandom(2 * 1024 * 1024 + 333)
results = []


def step(name, fn):
    try:
        out = fn()
        results.append((name, "ok", repr(out)[:100]))
    except Exception as e:
        results.append((name, "FAIL", f"{type(e).__name__}: {e}"[:300]))
step("container_create", lambda: api.container_create(A, C, properties={"k": "v"}))
step("object_create", lambda: api.object_create(A, C, obj_name="obj", data=data)[1:])
step("object_create_file", lambda: api.object_create(A, C, "/etc/magic")[1:])
def fetch():
    meta, stream = api.object_fetch(A, C, "obj")
    got = b"".join(stream)
    assert got == data, "data differs"
    return meta["hash"]
step("object_fetch", fetch)
def ranges():
    meta, stream = api.object_fetch(A, C, "obj", ranges=[(1048570, 1048580)])
    got = b"".join(stream)
    assert got == data[1048570:1048581], "range differs"
    return len(got)
step("object_fetch_ranges", ranges)
step("object_list",
     lambda: [o["name"] for o in api.object_list(A, C)["objects"]])
step("object_locate", lambda: len(api.object_locate(A, C, "obj")[1]))
step("object_set_properties",
     lambda: api.object_set_properties(A, C, "obj", {"color": "blue"}))
step("object_get_properties",
     lambda: api.object_get_properties(A, C, "obj")["properties"])
step("object_head", lambda: api.object_head(A, C, "obj"))
step("object_head2", lambda: api.object_head(A, C, "obj", trust_level=2))
step("container_show", lambda: api.container_show(A, C))
step("container_get_properties",
     lambda: api.container_get_properties(A, C)["properties"])
step("object_link", lambda: api.object_link(A, C, "obj", A, C, "link")["name"])
step("object_truncate", lambda: api.object_truncate(A, C, "link", size=1000))
step("object_fetch_link", lambda: len(b"".join(api.object_fetch(A, C, "link")[1])))
step("object_delete_many",
     lambda: api.object_delete_many(A, C, ["magic", "nothing"]))
step("container_list", lambda: api.container_list(A)[:3])
step("account_show", lambda: api.account_show(A)["containers"])
step("resolve_cid", lambda: api.resolve_cid(cid_from_name(A, C)))
SNAP = C + "-snap"
step("container_snapshot", lambda: api.container_snapshot(A, C, A, SNAP))
step("object_fetch_snapshot",
     lambda: b"".join(api.object_fetch(A, SNAP, "obj")[1]) == data)
perfdata = {}
step("object_create_perfdata", lambda: api.object_create(
    A, C, obj_name="perf", data=b"p" * 5000, perfdata=perfdata)[1])
step("perfdata_keys", lambda: sorted(perfdata) + sorted(
    k for k in perfdata.get("rawx", {}) if not k.startswith(("connect.h",
                                                              "upload.h"))))
fetch_perf = {}
step("object_fetch_perfdata", lambda: (len(b"".join(api.object_fetch(
    A, C, "perf", perfdata=fetch_perf)[1])), sorted(fetch_perf)))
cache = {}
step("object_get_properties_cache", lambda: [
    api.object_get_properties(A, C, "obj", cache=cache)["properties"],
    sorted(cache)])
step("container_touch_recompute",
     lambda: api.container_touch(A, C, recompute=True))
step("container_create_many",
     lambda: api.container_create_many(A, [C + "-m1", C + "-m2"]))
step("container_set_properties_clear", lambda: api.container_set_properties(
    A, C, {"z": "1"}, clear=True))
step("container_refresh", lambda: api.container_refresh(A, C))
step("account_set_properties",
     lambda: api.account_set_properties(A, {"owner": "up"}))
step("account_get_properties",
     lambda: api.account_get_properties(A)["properties"])
step("account_list", lambda: A in api.account_list())
step("object_change_policy",
     lambda: api.object_change_policy(A, C, "perf", "TWOCOPIES")[1])
step("object_drain", lambda: api.object_drain(A, C, "perf"))
step("container_purge", lambda: api.container_purge(A, C))
step("object_list_versions", lambda: len(api.object_list(
    A, C, versions=True, deleted=True)["objects"]))


def expect(exc_class, fn):
    def run():
        try:
            fn()
        except exc_class as err:
            return f"{type(err).__name__} as expected"
        raise AssertionError(f"no {exc_class.__name__}")
    return run


step("object_fetch_missing", expect(exc.NoSuchObject,
                                    lambda: api.object_fetch(A, C, "missing")))
step("object_delete_many_missing_container",
     lambda: api.object_delete_many(A, C + "-nope", ["a", "b"]))
step("object_create_reqid_header", lambda: api.object_create(
    A, C, obj_name="rq", data=b"r",
    headers={"X-oio-req-id": "compat-req-id-1"})[1])
step("object_delete", lambda: api.object_delete(A, C, "obj"))
step("container_flush", lambda: api.container_flush(A, C))
step("container_delete", lambda: api.container_delete(A, C))
for name in (C + "-m1", C + "-m2"):
    step("container_delete_many", lambda n=name: api.container_delete(A, n))
step("container_show_missing", expect(exc.NoSuchContainer,
                                      lambda: api.container_show(A, C)))
for r in results:
    print(*r, sep=" | ")
sys.exit(sum(1 for r in results if r[1] != "ok"))
