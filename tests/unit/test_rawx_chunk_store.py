"""The on-disk chunk layout, pending files and xattrs (rawx.md §4-5)."""

import os
import threading

import pytest

from oio.blob.chunk_store import (
    NOCACHE_MIN_SIZE,
    ChunkExists,
    ChunkNotFound,
    ChunkStore,
    InvalidChunkId,
    VolumeLockError,
    advise,
    normalize_chunk_id,
    rename_noreplace,
)

CHUNK = "0A1B2C3D" * 8


@pytest.fixture
def store(tmp_path):
    return ChunkStore(str(tmp_path), hash_width=3, hash_depth=1)


@pytest.mark.parametrize("bad", [
    "../../etc/passwd", "", "A" * 23, "A" * 65, "G" * 64, "0A1/" + "0" * 60,
    "..%2F" * 10, "0" * 63 + " ", "0" * 63 + "\x00", "é" * 30])
def test_invalid_chunk_ids(bad):
    with pytest.raises(InvalidChunkId):
        normalize_chunk_id(bad)


@pytest.mark.parametrize("good", ["a" * 24, "0123456789abcdefABCDEF01" * 2, "F" * 64])
def test_valid_chunk_ids_upper_cased(good):
    assert normalize_chunk_id(good) == good.upper()


def test_layout(tmp_path):
    assert ChunkStore("/v").chunk_path(CHUNK) == f"/v/0A1/{CHUNK}"
    assert ChunkStore("/v", 2, 2).chunk_path(CHUNK) == f"/v/0A/1B/{CHUNK}"
    assert ChunkStore("/v", 3, 0).chunk_path(CHUNK) == f"/v/{CHUNK}"


def test_write_commit_read(store, tmp_path):
    pending = store.create(CHUNK)
    assert pending.path == str(tmp_path / "0A1" / (CHUNK + ".pending"))
    assert os.path.exists(pending.path)
    assert oct(os.stat(tmp_path / "0A1").st_mode & 0o777) == "0o755"
    pending.write(b"hello ")
    pending.write(memoryview(b"world"))
    assert not store.exists(CHUNK)         # not visible before commit
    pending.commit({"user.grid.chunk.size": b"11", "user.x": b""})
    assert not os.path.exists(pending.path)
    path = store.chunk_path(CHUNK)
    assert open(path, "rb").read() == b"hello world"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    fd, st = store.open(CHUNK)
    try:
        assert st.st_size == 11
        assert store.read_xattrs(fd) == {"user.grid.chunk.size": b"11",
                                         "user.x": b""}
    finally:
        os.close(fd)


def test_create_refuses_existing_chunk_and_concurrent_upload(store):
    first = store.create(CHUNK)
    with pytest.raises(ChunkExists):
        store.create(CHUNK)            # the same upload in progress
    first.commit({})
    with pytest.raises(ChunkExists):
        store.create(CHUNK)            # already published
    assert not os.path.exists(store.chunk_path(CHUNK) + ".pending")


def test_commit_never_replaces_a_published_chunk(store):
    pending = store.create(CHUNK)
    pending.write(b"late")
    # Another upload published the chunk meanwhile.
    with open(store.chunk_path(CHUNK), "wb") as handle:
        handle.write(b"first")
    with pytest.raises(ChunkExists):
        pending.commit({})
    assert open(store.chunk_path(CHUNK), "rb").read() == b"first"
    assert not os.path.exists(pending.path)


def test_rename_noreplace(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"1")
    rename_noreplace(str(src), str(dst))
    src.write_bytes(b"2")
    with pytest.raises(ChunkExists):
        rename_noreplace(str(src), str(dst))
    assert dst.read_bytes() == b"1"


def test_abort_leaves_nothing(store):
    pending = store.create(CHUNK)
    pending.write(b"x" * 1000)
    pending.abort()
    pending.abort()   # idempotent
    assert os.listdir(os.path.dirname(pending.path)) == []


def test_commit_failure_removes_pending(store):
    pending = store.create(CHUNK)
    with pytest.raises(OSError):
        pending.commit({"bogus.namespace": b"1"})
    assert not os.path.exists(pending.path)
    assert not store.exists(CHUNK)


def test_fsync_options(tmp_path):
    store = ChunkStore(str(tmp_path), fsync_file=True, fsync_dir=True)
    pending = store.create(CHUNK)
    pending.write(b"durable")
    pending.commit({"user.a": b"1"})
    assert store.exists(CHUNK)
    store.delete(CHUNK)
    assert not store.exists(CHUNK)


def _advice_calls(monkeypatch):
    calls = []
    real = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise",
                        lambda fd, off, n, what: (calls.append((off, n, what)),
                                                  real(fd, off, n, what)))
    return calls


@pytest.mark.parametrize("fsync, size, dropped", [
    (True, NOCACHE_MIN_SIZE, True),
    (True, NOCACHE_MIN_SIZE - 1, False),   # small chunks stay cached
    (False, NOCACHE_MIN_SIZE, False)])     # dirty pages would stay anyway
def test_nocache_upload_drops_large_chunks_once_synced(tmp_path, monkeypatch,
                                                       fsync, size, dropped):
    calls = _advice_calls(monkeypatch)
    store = ChunkStore(str(tmp_path), fsync_file=fsync,
                       fadvise_upload="nocache")
    pending = store.create(CHUNK)
    pending.write(b"x" * size)
    pending.commit({"user.a": b"1"})
    assert calls == ([(0, size, os.POSIX_FADV_DONTNEED)] if dropped else [])
    fd, _ = store.open(CHUNK)
    try:
        assert os.pread(fd, 4, 0) == b"xxxx"
    finally:
        os.close(fd)


def test_fadvise_modes_before_and_after_use(tmp_path, monkeypatch):
    calls = _advice_calls(monkeypatch)
    path = tmp_path / "f"
    path.write_bytes(b"y" * NOCACHE_MIN_SIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        advise(fd, NOCACHE_MIN_SIZE, "none", after_use=False)
        advise(fd, NOCACHE_MIN_SIZE, "nocache", after_use=False)
        assert calls == []
        advise(fd, NOCACHE_MIN_SIZE, "cache", after_use=False)
        assert [c[2] for c in calls] == [os.POSIX_FADV_SEQUENTIAL,
                                         os.POSIX_FADV_WILLNEED]
        calls.clear()
        advise(fd, NOCACHE_MIN_SIZE, "cache", after_use=True)
        advise(fd, NOCACHE_MIN_SIZE, "nocache", after_use=True)
        assert [c[2] for c in calls] == [os.POSIX_FADV_DONTNEED]
    finally:
        os.close(fd)


def test_missing_volume_root_is_not_created(tmp_path):
    store = ChunkStore(str(tmp_path / "unmounted"))
    with pytest.raises(FileNotFoundError):
        store.create(CHUNK)
    assert not (tmp_path / "unmounted").exists()


def test_open_missing(store):
    with pytest.raises(ChunkNotFound):
        store.open(CHUNK)
    os.makedirs(store.chunk_path(CHUNK))   # a directory is not a chunk
    with pytest.raises(ChunkNotFound):
        store.open(CHUNK)


def test_delete(store):
    pending = store.create(CHUNK)
    pending.commit({"user.oio.content.fullpath:" + CHUNK: b"a/b/c/1/AB"})
    attrs = store.delete(CHUNK)
    assert attrs == {"user.oio.content.fullpath:" + CHUNK: b"a/b/c/1/AB"}
    with pytest.raises(ChunkNotFound):
        store.delete(CHUNK)


def test_link_shares_inode_with_own_fullpath(store):
    other = "F" * 64
    pending = store.create(CHUNK)
    pending.write(b"data")
    pending.commit({"user.oio.content.fullpath:" + CHUNK: b"a/b/c/1/AB",
                    "user.grid.chunk.hash": b"H"})
    store.link(CHUNK, other, b"a/b/d/2/CD")
    fd, st = store.open(other)
    try:
        attrs = store.read_xattrs(fd)
    finally:
        os.close(fd)
    assert st.st_nlink == 2
    assert attrs["user.oio.content.fullpath:" + other] == b"a/b/d/2/CD"
    assert attrs["user.grid.chunk.hash"] == b"H"
    with pytest.raises(ChunkExists):
        store.link(CHUNK, other, b"x")
    with pytest.raises(ChunkNotFound):
        store.link("E" * 64, "D" * 64, b"x")
    # Deleting one link drops only its own identity.
    store.delete(other)
    fd, _ = store.open(CHUNK)
    try:
        attrs = store.read_xattrs(fd)
    finally:
        os.close(fd)
    assert "user.oio.content.fullpath:" + other not in attrs
    assert "user.oio.content.fullpath:" + CHUNK in attrs


def test_volume_lock(store, tmp_path):
    store.lock_volume("OPENIO", "127.0.0.1:6009")
    assert os.getxattr(tmp_path, "user.server.id") == b"127.0.0.1:6009"
    assert os.getxattr(tmp_path, "user.server.ns") == b"OPENIO"
    assert os.getxattr(tmp_path, "user.server.type") == b"rawx"
    store.lock_volume("OPENIO", "127.0.0.1:6009")   # same owner: fine
    with pytest.raises(VolumeLockError, match="server.id"):
        store.lock_volume("OPENIO", "127.0.0.1:6010")
    with pytest.raises(VolumeLockError, match="server.ns"):
        store.lock_volume("OTHER", "127.0.0.1:6009")


def test_probe_leaves_nothing(store, tmp_path):
    store.probe()
    assert os.listdir(tmp_path) == []


def test_concurrent_creates_one_winner(store):
    results = []

    def attempt():
        try:
            pending = store.create(CHUNK)
            pending.write(b"x")
            pending.commit({})
            results.append("ok")
        except ChunkExists:
            results.append("exists")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1
    assert [n for n in os.listdir(os.path.dirname(store.chunk_path(CHUNK)))
            if n.endswith(".pending")] == []


def test_make_hash_dirs_creates_the_missing_ones_once(store, tmp_path):
    os.mkdir(tmp_path / "0A1")
    assert store.make_hash_dirs() == 4095
    names = os.listdir(tmp_path)
    assert len(names) == 4096 and "FFF" in names and "000" in names
    assert store.make_hash_dirs() == 0
    # The first chunk of a directory now needs no mkdir.
    pending = store.create(CHUNK)
    pending.write(b"x")
    pending.commit({})
    assert store.exists(CHUNK)


def test_make_hash_dirs_skips_large_layouts(tmp_path):
    assert ChunkStore(str(tmp_path), hash_width=2, hash_depth=2).make_hash_dirs() == 0
    assert ChunkStore(str(tmp_path), hash_width=4, hash_depth=1).make_hash_dirs() == 0
    assert os.listdir(tmp_path) == []


def test_commit_refuses_a_published_chunk_without_early_check(store):
    first = store.create(CHUNK)
    first.write(b"first")
    first.commit({})
    late = store.create(CHUNK, check_exists=False)
    late.write(b"second")
    with pytest.raises(ChunkExists):
        late.commit({})
    assert not os.path.exists(late.path)
    with open(store.chunk_path(CHUNK), "rb") as f:
        assert f.read() == b"first"
