"""`openio object ...` through the real binary, and the progress bar."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid

from oio.cli.object.object import parse_ranges
from oio.cli.progress import Progress, ProgressReader
from oio.common.autocontainer import HashedContainerBuilder
from tests.functional.cli import run_cli


def _account() -> str:
    return f"cli-obj-{uuid.uuid4().hex[:8]}"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def test_create_save_show_locate(namespace, tmp_path, monkeypatch):
    acct = _account()
    files = {"small.txt": b"hello\n", "big.bin": os.urandom(2500 * 1024),
             "été 2024.txt": b"unicode name\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    created = run_cli(namespace, "object", "create", "docs",
                      *(str(tmp_path / n) for n in files),
                      "--property", "owner=me", "--mime-type", "text/plain",
                      "-f", "json", account=acct)
    assert created.code == 0, created.err
    assert created.err == ""        # no progress bar without a terminal
    assert created.json() == [
        {"Name": n, "Size": len(d), "Hash": _md5(d), "Status": "Ok"}
        for n, d in files.items()]

    # save: explicit --file, then the default name under the cwd.
    out = tmp_path / "out"
    out.mkdir()
    saved = run_cli(namespace, "object", "save", "docs", "big.bin",
                    "--file", str(out / "copy.bin"), account=acct)
    assert saved.code == 0, saved.err
    assert _md5((out / "copy.bin").read_bytes()) == _md5(files["big.bin"])
    monkeypatch.chdir(out)
    saved = run_cli(namespace, "object", "save", "docs", "été 2024.txt",
                    account=acct)
    assert saved.code == 0, saved.err
    assert (out / "été 2024.txt").read_bytes() == files["été 2024.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["copy.bin",
                                                     "été 2024.txt"]

    ranged = run_cli(namespace, "object", "save", "docs", "big.bin",
                     "--range", "bytes=10-19,-5", "--file",
                     str(out / "part"), account=acct)
    assert ranged.code == 0, ranged.err
    assert (out / "part").read_bytes() == \
        files["big.bin"][10:20] + files["big.bin"][-5:]

    shown = run_cli(namespace, "object", "show", "docs", "big.bin",
                    "-f", "json", account=acct)
    assert shown.code == 0, shown.err
    info = shown.json()
    assert {k: info[k] for k in ("account", "container", "object", "size",
                                 "hash", "mime-type", "meta.owner")} == {
        "account": acct, "container": "docs", "object": "big.bin",
        "size": str(len(files["big.bin"])), "hash": _md5(files["big.bin"]),
        "mime-type": "text/plain", "meta.owner": "me"}
    assert set(info) >= {"id", "version", "ctime", "mtime", "policy"}

    located = run_cli(namespace, "object", "locate", "docs", "big.bin",
                      "-f", "json", account=acct)
    assert located.code == 0, located.err
    _, chunks = namespace.api().object_locate(acct, "docs", "big.bin")
    assert located.json() == [
        {"Pos": c["pos"], "Id": c["url"], "Metachunk size": c["size"],
         "Metachunk hash": c["hash"]} for c in chunks]
    # 2.5 MiB in 1 MiB chunks: three metachunks.
    assert {c["pos"] for c in chunks} == {"0", "1", "2"}

    info = run_cli(namespace, "object", "locate", "docs", "small.txt",
                   "--chunk-info", "-f", "json", account=acct).json()
    assert info and all(row["Chunk size"] == "6" for row in info)
    assert all(row["Chunk hash"] == _md5(b"hello\n") for row in info)


def test_set_unset_list_versions_delete(namespace):
    acct = _account()
    api = namespace.api()
    api.container_create(acct, "hist", system={"sys.m2.policy.version": "-1"})
    for i in range(3):
        api.object_create(acct, "hist", data=b"v%d" % i, obj_name="doc")
    api.object_create(acct, "hist", data=b"x", obj_name="a/one")
    api.object_create(acct, "hist", data=b"y", obj_name="a/two")

    assert run_cli(namespace, "object", "set", "hist", "doc", "--property",
                   "k1=v1", "--property", "k2=v2", account=acct).code == 0
    assert run_cli(namespace, "object", "unset", "hist", "doc", "--property",
                   "k1", account=acct).code == 0
    assert api.object_get_properties(acct, "hist", "doc")["properties"] == {
        "k2": "v2"}

    listed = run_cli(namespace, "object", "list", "hist", "--versions",
                     "-f", "json", account=acct)
    assert listed.code == 0, listed.err
    rows = listed.json()
    assert [r["Name"] for r in rows].count("doc") == 3
    assert list(rows[0]) == ["Name", "Size", "Hash", "Version"]

    paged = run_cli(namespace, "object", "list", "hist", "--prefix", "a/",
                    "--limit", "1", "--long", "-f", "json", account=acct)
    rows = paged.json()
    assert [r["Name"] for r in rows] == ["a/one"]
    assert list(rows[0]) == ["Name", "Size", "Hash", "Version", "Deleted",
                             "Content-Type", "Last-Modified", "Policy",
                             "Properties"]

    oldest = min(o["version"] for o in api.object_list(
        acct, "hist", versions=True)["objects"] if o["name"] == "doc")
    old = run_cli(namespace, "object", "show", "hist", "doc",
                  "--object-version", str(oldest), "-f", "json",
                  account=acct).json()
    assert old["hash"] == _md5(b"v0")

    purged = run_cli(namespace, "object", "purge", "hist", "doc",
                     "--max-versions", "2", account=acct)
    assert purged.code == 0, purged.err
    deleted = run_cli(namespace, "object", "delete", "hist", "doc",
                      "-f", "json", account=acct)
    assert deleted.json() == [{"Name": "doc", "Deleted": True}]
    versions = [o for o in api.object_list(acct, "hist", versions=True)[
        "objects"] if o["name"] == "doc"]
    # Two versions kept by the purge, plus the delete marker.
    assert len(versions) == 3 and sum(o["deleted"] for o in versions) == 1
    shown = run_cli(namespace, "object", "list", "hist", "--versions",
                    "--prefix", "doc", "-f", "value", "-c", "Size",
                    account=acct)
    assert shown.out.split().count("deleted") == 1

    many = run_cli(namespace, "object", "delete", "hist", "a/one", "ghost",
                   "-f", "json", account=acct)
    assert many.code == 0       # as 7.2, even though "ghost" did not exist
    assert sorted(many.json(), key=lambda r: r["Name"]) == [
        {"Name": "a/one", "Deleted": True}, {"Name": "ghost", "Deleted": False}]


def test_link_touch_drain(namespace, tmp_path):
    acct = _account()
    api = namespace.api()
    data = os.urandom(4096)
    api.object_create(acct, "src", data=data, obj_name="orig")
    linked = run_cli(namespace, "object", "link", "src", "orig", "copy",
                     "--dest-container", "dst", account=acct)
    assert linked.code == 0, linked.err
    _, stream = api.object_fetch(acct, "dst", "copy")
    assert b"".join(stream) == data

    assert run_cli(namespace, "object", "touch", "src", "orig",
                   account=acct).code == 0
    assert run_cli(namespace, "object", "drain", "dst", "copy",
                   account=acct).code == 0
    # A failed download leaves no file, not even a partial one.
    failed = run_cli(namespace, "object", "save", "dst", "copy", "--file",
                     str(tmp_path / "copy"), account=acct)
    assert failed.code == 1 and "drained" in failed.err
    assert list(tmp_path.iterdir()) == []
    # The source's chunks were not drained with the link's.
    _, stream = api.object_fetch(acct, "src", "orig")
    assert b"".join(stream) == data


def test_object_errors(namespace, tmp_path):
    acct = _account()
    api = namespace.api()
    api.object_create(acct, "here", data=b"0123456789", obj_name="obj")
    (tmp_path / "f").write_bytes(b"data")

    missing = run_cli(namespace, "object", "list", "nowhere", account=acct)
    assert missing.code == 1
    assert f"Container 'nowhere' not found in account '{acct}'" in missing.err

    gone = run_cli(namespace, "object", "show", "here", "ghost",
                   account=acct)
    assert gone.code == 1
    assert "Object 'ghost' not found in container 'here'" in gone.err

    policy = run_cli(namespace, "object", "create", "here",
                     str(tmp_path / "f"), "--policy", "NOPE", account=acct)
    assert policy.code == 1
    assert "Unknown storage policy 'NOPE'" in policy.err
    assert not api.object_exists(acct, "here", "f")

    for bad in ("5-2", "abc", "-", "1-2,x"):
        ranged = run_cli(namespace, "object", "save", "here", "obj",
                         "--range", bad, "--file", str(tmp_path / "r"),
                         account=acct)
        assert ranged.code == 1 and "Invalid range" in ranged.err, bad
    outside = run_cli(namespace, "object", "save", "here", "obj", "--range",
                      "100-", "--file", str(tmp_path / "r"), account=acct)
    assert outside.code == 1 and "not satisfiable" in outside.err
    assert not (tmp_path / "r").exists()

    no_account = run_cli(namespace, "object", "list", "here")
    assert no_account.code == 1
    assert "Set the account with --oio-account" in no_account.err

    no_container = run_cli(namespace, "object", "show", account=acct)
    assert no_container.code == 2

    no_file = run_cli(namespace, "object", "create", "here",
                      str(tmp_path / "absent"), str(tmp_path / "f"),
                      "-f", "json", account=acct)
    assert no_file.code == 1 and "absent" in no_file.err
    assert [r["Status"] for r in no_file.json()] == ["Failed", "Ok"]

    unsafe = run_cli(namespace, "object", "create", "here",
                     str(tmp_path / "f"), "--name", "../escape",
                     account=acct)
    assert unsafe.code == 0
    refused = run_cli(namespace, "object", "save", "here", "../escape",
                      account=acct)
    assert refused.code == 1 and "use --file" in refused.err


def test_flat_namespace(namespace, tmp_path):
    acct = _account()
    (tmp_path / "flat.txt").write_bytes(b"flat")
    created = run_cli(namespace, "object", "create", "--auto", "--flat-bits",
                      "10", str(tmp_path / "flat.txt"), account=acct)
    assert created.code == 0, created.err
    digest = hashlib.sha256(b"flat.txt").hexdigest().upper()
    # 10 bits: two hex digits and the 2 high bits of the third.
    third = int(digest[2], 16) & 0b1100
    container = digest[:2] + f"{third:X}"
    assert namespace.api().object_exists(acct, container, "flat.txt")
    shown = run_cli(namespace, "object", "show", "--auto", "--flat-bits",
                    "10", "flat.txt", "-f", "json", account=acct)
    assert shown.json()["container"] == container
    # Without --flat-bits: the namespace's flat_bitlength (17 by default),
    # four hex digits and the high bit of the fifth.
    default = run_cli(namespace, "object", "create", "--auto",
                      str(tmp_path / "flat.txt"), "-f", "json", account=acct)
    assert default.code == 0, default.err
    fifth = int(digest[4], 16) & 0b1000
    assert namespace.api().object_exists(acct, digest[:4] + f"{fifth:X}",
                                         "flat.txt")
    bad = run_cli(namespace, "object", "show", "--auto", "--flat-bits", "0",
                  "flat.txt", account=acct)
    assert bad.code == 1 and "Invalid flat bit length" in bad.err


def test_helpers():
    builder = HashedContainerBuilder(bits=8)
    name = builder("some/path")
    assert name == hashlib.sha256(b"some/path").hexdigest()[:2].upper()
    assert builder.verify(name) and not builder.verify("XYZ")
    assert parse_ranges("bytes=0-9,20-,-5") == [(0, 9), (20, None), (None, 5)]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_tty_only():
    now = [0.0]
    tty = FakeTty()
    progress = Progress(10 * 1000 * 1000, label="obj", stream=tty,
                        clock=lambda: now[0])
    now[0] = 1.0
    progress.update(2 * 1000 * 1000)
    now[0] = 1.05                       # too soon: no redraw
    progress.update(1000 * 1000)
    lines = tty.getvalue().split("\r")[1:]
    assert len(lines) == 1
    assert "2.0MB/10.0MB" in lines[0] and "20.0%" in lines[0]
    assert "2.00 MB/s" in lines[0] and "ETA 00:04" in lines[0]
    now[0] = 2.0
    progress.update(1000 * 1000)
    assert "40.0%" in tty.getvalue().split("\r")[-1]
    progress.finish()
    assert tty.getvalue().endswith("\r\x1b[K")

    pipe = io.StringIO()
    quiet = Progress(100, stream=pipe)
    reader = ProgressReader(io.BytesIO(b"x" * 100), quiet)
    buf = bytearray(60)
    assert reader.readinto(buf) == 60 and reader.read() == b"x" * 40
    quiet.finish()
    assert quiet.done == 100 and pipe.getvalue() == ""
    assert json.dumps(quiet.line(0.0))     # a line even without a total


def test_commands_read_from_stdin(namespace, tmp_path):
    """`openio < script` (OpenIO's tests batch uploads so): exit 0 when
    every command succeeded, 1 when one failed."""
    account = f"acct-{uuid.uuid4().hex[:8]}"
    src = tmp_path / "f"
    src.write_bytes(b"something")
    script = "".join(f"object create --auto {src} --name batch_{i}\n"
                     for i in range(3))
    res = run_cli(namespace, account=account, stdin=script.encode())
    assert res.code == 0, res.err
    listed = run_cli(namespace, "object", "list", "--auto", "--prefix",
                     "batch_", "-f", "json", account=account)
    assert sorted(o["Name"] for o in listed.json()) == [
        "batch_0", "batch_1", "batch_2"]
    res = run_cli(namespace, account=account,
                  stdin=b"object show nowhere nothing\n")
    assert res.code == 1
