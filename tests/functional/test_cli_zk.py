"""`openio zk ...` through the real binary, against a real ZooKeeper
(Debian's, started here by oio.zk.server on a free port)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from oio.zk import server
from oio.zk.layout import election_dir, election_key
from tests.functional.cli import run_cli
from tests.utils import free_port, wait_until

pytestmark = pytest.mark.skipif(not server.installed(),
                                reason="ZooKeeper (Debian's) is not installed")

NS = "ZKTEST"
ROOT = f"/hc/ns/{NS}"
CID = "0123456789ABCDEF" * 4
PEERS = ("127.0.0.1:6120", "127.0.0.1:6121", "127.0.0.1:6122")


@dataclass
class Namespace:
    """What run_cli needs: a namespace name and its configuration file."""

    ns: str
    conf_path: str


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(16) == b"imok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def zookeeper():
    """A ZooKeeper server and a configuration naming it (namespaces
    ZKTEST, ZKSLOW, ZKEMPTY), a namespace whose ZooKeeper is down
    (ZKDOWN), one without (NOZK)."""
    tmp = tempfile.mkdtemp(prefix="oio-zk-")
    proc = None
    try:
        port = free_port()
        # A heap for the ~70,000 directories and the tests' nodes; no
        # fsync, nothing here needs to survive a crash.
        node = server.ZkNode(1, "127.0.0.1", port,
                             data_dir=os.path.join(tmp, "data"), fsync=False)
        conf = os.path.join(tmp, "zoo.cfg")
        node.write(conf)
        with open(os.path.join(tmp, "zookeeper.log"), "wb") as log:
            proc = subprocess.Popen(server.command(conf, heap_mb=512),
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        wait_until(lambda: proc.poll() is not None or _ruok(port),
                   timeout=60, interval=0.2)
        assert proc.poll() is None, "ZooKeeper exited: see zookeeper.log"
        sds_conf = os.path.join(tmp, "sds.conf")
        with open(sds_conf, "w") as out:
            for name in (NS, "ZKSLOW", "ZKEMPTY"):
                out.write(f"[{name}]\nproxy=127.0.0.1:1\n"
                          f"zookeeper={node.addr}\n")
            out.write(f"[ZKDOWN]\nproxy=127.0.0.1:1\n"
                      f"zookeeper=127.0.0.1:{free_port()}\n"
                      "[NOZK]\nproxy=127.0.0.1:1\n")
        yield Namespace(NS, sds_conf), node.addr
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def namespace(zookeeper):
    return zookeeper[0]


@pytest.fixture(scope="module")
def zk(zookeeper):
    """A client of the test's own, as the services would be."""
    from oio.zk.client import connect

    client = connect(zookeeper[1])
    try:
        yield client
    finally:
        client.stop()
        client.close()


@pytest.fixture(scope="module")
def tree(namespace, zk):
    result = run_cli(namespace, "zk", "bootstrap")
    assert result.code == 0, result.err
    return result


@pytest.fixture
def elections(tree, zk):
    """Three peers in one election of each type (ephemeral sequential
    nodes holding the peers' IDs), removed after the test."""
    made = []
    for base, kind in ((NS, "meta0"), ("AB00", "meta1"), (f"{CID}.1", "meta2")):
        key = election_key(base, kind)
        group = election_dir(NS, kind, key)
        members = [zk.create(f"{group}/{key}-", peer.encode(), ephemeral=True,
                             sequence=True).rsplit("/", 1)[1]
                   for peer in PEERS]
        made.append((kind, group, key, members))
    yield {kind: (group, key, members) for kind, group, key, members in made}
    for _, group, _, _ in made:
        for child in zk.get_children(group):
            zk.delete(f"{group}/{child}")


def _rows(namespace, *args) -> list[dict]:
    result = run_cli(namespace, *args, "-f", "json")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result.json()


def _refused(result, *words) -> None:
    assert result.code == 1, (result.out, result.err)
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err


# bootstrap --------------------------------------------------------------------
def test_bootstrap_creates_the_whole_tree(tree, zk):
    assert "69897 directories created, 0 there already, 0 failed" in tree.err
    assert tree.out == ""
    for path in ("/hc/ns", f"{ROOT}/srv/meta0", f"{ROOT}/el/meta0",
                 f"{ROOT}/el/meta1/000", f"{ROOT}/el/meta1/FFF",
                 f"{ROOT}/el/meta2/00/00", f"{ROOT}/el/meta2/FF/FF"):
        assert zk.exists(path) is not None, path
    assert len(zk.get_children(f"{ROOT}/el/meta1")) == 4096
    assert len(zk.get_children(f"{ROOT}/el/meta2")) == 256
    assert len(zk.get_children(f"{ROOT}/el/meta2/A7")) == 256
    data, znode = zk.get(f"{ROOT}/el/meta2/A7/3C")
    assert data == b"" and znode.ephemeralOwner == 0


def test_bootstrap_again_keeps_what_is_there(namespace, tree):
    result = run_cli(namespace, "zk", "bootstrap")
    assert result.code == 0, result.err
    assert "0 directories created, 69897 there already" in result.err
    lazy = run_cli(namespace, "zk", "bootstrap", "--lazy")
    assert lazy.code == 0, lazy.err
    assert "nothing done" in lazy.err


def test_bootstrap_slow_and_armageddon_of_another_namespace(namespace, zk):
    other = Namespace("ZKSLOW", namespace.conf_path)
    began = time.monotonic()
    result = run_cli(other, "zk", "bootstrap", "--slow")
    assert result.code == 0, result.err
    assert "69895 directories created, 2 there already" in result.err
    assert zk.exists("/hc/ns/ZKSLOW/el/meta2/FF/FF") is not None
    assert time.monotonic() - began < 120

    refused = run_cli(other, "zk", "armageddon")
    assert refused.code == 0, refused.err
    assert "--fuck-the-world" in refused.err
    assert zk.exists("/hc/ns/ZKSLOW/el/meta2/FF/FF") is not None

    done = run_cli(other, "zk", "armageddon", "--fuck-the-world")
    assert done.code == 0, done.err
    assert "69894 nodes deleted, 0 failed" in done.err
    assert zk.get_children("/hc/ns/ZKSLOW") == []
    # The other namespace's tree is untouched.
    assert zk.exists(f"{ROOT}/el/meta2/FF/FF") is not None


# stat -------------------------------------------------------------------------
def test_stat_lists_the_nodes_of_the_chosen_types(namespace, elections):
    rows = _rows(namespace, "zk", "stat", "meta2")
    group, key, members = elections["meta2"]
    assert list(rows[0]) == ["group", "member", "size", "value"]
    assert rows == [{"group": group, "member": m, "size": len(peer),
                     "value": repr(peer)}
                    for m, peer in zip(members, PEERS, strict=True)]
    assert group == f"{ROOT}/el/meta2/{key[:2]}/{key[2:4]}"

    both = _rows(namespace, "zk", "stat", "meta1,meta2")
    assert [r["group"] for r in both] == \
        [elections["meta1"][0]] * 3 + [group] * 3

    value = run_cli(namespace, "zk", "stat", "meta0", "-f", "value")
    assert value.code == 0, value.err
    assert value.out.splitlines() == [
        f"{ROOT}/el/meta0 {m} {len(p)} '{p}'"
        for m, p in zip(elections["meta0"][2], PEERS, strict=True)]


def test_stat_of_a_namespace_never_bootstrapped(namespace):
    result = run_cli(Namespace("ZKEMPTY", namespace.conf_path),
                     "zk", "stat", "meta2")
    _refused(result, "/hc/ns/ZKEMPTY/el/meta2 does not exist",
             "openio zk bootstrap")


# smudge -----------------------------------------------------------------------
def test_smudge_adds_a_persistent_member_after_the_last(namespace, elections,
                                                       zk):
    group, key, members = elections["meta2"]
    rows = _rows(namespace, "zk", "smudge", "meta2", "--value", "fake")
    last = int(members[-1].rsplit("-", 1)[1])
    fake = f"{key}-{last + 1:010d}"
    assert rows == [{"group": group, "member": fake, "status": "OK"}]
    data, znode = zk.get(f"{group}/{fake}")
    assert data == b"fake" and znode.ephemeralOwner == 0
    stat = _rows(namespace, "zk", "stat", "meta2")
    assert stat[-1] == {"group": group, "member": fake, "size": 4,
                        "value": "'fake'"}
    # The fake member is there already: the next one comes after it.
    again = _rows(namespace, "zk", "smudge", "meta2")
    assert again[0]["member"] == f"{key}-{last + 2:010d}"
    assert zk.get(f"{group}/{key}-{last + 2:010d}")[0] == b""


# reset ------------------------------------------------------------------------
def test_reset_dry_run_deletes_nothing(namespace, elections, zk):
    group, _, members = elections["meta2"]
    rows = _rows(namespace, "zk", "reset", "meta2", "--dry-run",
                 "--min-services", "3")
    assert list(rows[0]) == ["group", "node", "status"]
    assert rows == [{"group": group, "node": m, "status": "Skipped"}
                    for m in members]
    assert sorted(zk.get_children(group)) == members


def test_reset_leaves_small_groups_alone(namespace, elections, zk):
    group, _, members = elections["meta1"]
    rows = _rows(namespace, "zk", "reset", "meta1")  # 3 nodes < 4
    assert rows == [{"group": group, "node": m, "status": "Too few nodes"}
                    for m in members]
    assert sorted(zk.get_children(group)) == members


def test_reset_deletes_the_election_nodes(namespace, elections, zk):
    group, _, members = elections["meta2"]
    rows = _rows(namespace, "zk", "reset", "meta0,meta2",
                 "--min-services", "3")
    assert [r for r in rows if r["group"] == group] == [
        {"group": group, "node": m, "status": "Deleted"} for m in members]
    assert {r["group"] for r in rows} == {group, elections["meta0"][0]}
    assert zk.get_children(group) == []
    assert zk.get_children(elections["meta0"][0]) == []
    assert len(zk.get_children(elections["meta1"][0])) == 3


def test_reset_alone_and_smart(namespace, elections, zk):
    group, key, members = elections["meta2"]
    for member in members[1:]:
        zk.delete(f"{group}/{member}")
    rows = _rows(namespace, "zk", "reset", "meta2", "--alone")
    assert rows == [{"group": group, "node": members[0], "status": "Deleted"}]

    # The same service twice in one election: --smart deletes the older.
    old = zk.create(f"{group}/{key}-", b"127.0.0.1:6120", sequence=True)
    zk.create(f"{group}/{key}-", b"127.0.0.1:6121", sequence=True)
    new = zk.create(f"{group}/{key}-", b"127.0.0.1:6120", sequence=True)
    rows = _rows(namespace, "zk", "reset", "meta2", "--smart",
                 "--min-services", "1")
    assert rows == [{"group": group, "node": old.rsplit("/", 1)[1],
                     "status": "Deleted"}]
    assert len(zk.get_children(group)) == 2 and zk.exists(new)


def test_reset_table_output(namespace, elections):
    result = run_cli(namespace, "zk", "reset", "meta2", "--min-services", "3",
                     "-f", "table")
    assert result.code == 0, result.err
    header = result.out.splitlines()[1]
    assert [c.strip() for c in header.split("|")[1:-1]] == \
        ["group", "node", "status"]
    assert result.out.count(" Deleted ") == 3


# bad input --------------------------------------------------------------------
def test_unknown_service_type(namespace, tree):
    _refused(run_cli(namespace, "zk", "stat", "rawx"),
             "Unknown service type 'rawx'", "meta1,meta2")
    _refused(run_cli(namespace, "zk", "reset", "meta"), "Unknown service type")


def test_zookeeper_unreachable(namespace):
    down = Namespace("ZKDOWN", namespace.conf_path)
    began = time.monotonic()
    result = run_cli(down, "zk", "stat", "meta2")
    _refused(result, "Cannot connect to ZooKeeper at 127.0.0.1:")
    assert time.monotonic() - began < 30
    _refused(run_cli(down, "zk", "bootstrap"), "Cannot connect to ZooKeeper")


def test_zookeeper_not_configured(namespace):
    result = run_cli(Namespace("NOZK", namespace.conf_path), "zk", "stat",
                     "meta2")
    _refused(result, "No ZooKeeper configured for namespace NOZK",
             "'zookeeper'")
