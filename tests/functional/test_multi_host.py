"""A namespace over three hosts (network namespaces, each with its own
address and its own supervisord): replicas on distinct hosts, a host cut
off or killed under reads and writes, then back and caught up."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from oio.common.utils import cid_from_name
from oio.sandbox.netns import NetnsUnavailable, check_support
from oio.zk.server import installed

from .replicated import (
    Stream,
    admin,
    base_files,
    election,
    meta2_base,
    wait_same_content,
)

try:
    check_support()
    NETNS = ""
except NetnsUnavailable as exc:
    NETNS = str(exc)

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(bool(NETNS), reason=f"no network namespaces: {NETNS}"),
    pytest.mark.skipif(not installed(), reason="ZooKeeper is not installed"),
    pytest.mark.skipif(not shutil.which("redis-server"),
                       reason="redis-server is not installed"),
]

ACCOUNT = "hosts"
# A host cut off: requests in flight to it wait for their timeouts (here
# 5 s for a chunk, 5 s for the metadata: the client's), its ZooKeeper
# sessions expire (3 s) and the other hosts elect new masters; writes that
# choose one of its rawx wait for a timeout until the conscience marks
# them down (10 s without registration). A write or two fail meanwhile.
# Alone it takes 10-23 s; within the whole suite on 2 cores one run took
# 40.07 s (timeouts of reads and writes of one loop add up): the bound
# catches a failover that never happens or waits for the 2-minute
# detection of a single host.
OUTAGE_BOUND = 60.0


@pytest.fixture(scope="module")
def cluster():
    from oio.sandbox.cluster import NetnsCluster

    tmp = os.environ.get("OIO_TEST_TMP") or "/var/tmp"
    root = tempfile.mkdtemp(prefix="oio-hosts-", dir=tmp)
    net = NetnsCluster(root, hosts=3, replicas=3, nb_rawx=2,
                       chunk_size=1024 * 1024, user_conf=False,
                       healing=False, xcute=False, base_port=6000)
    try:
        net.start()
        yield net
    finally:
        net.stop()
        if os.environ.get("OIO_KEEP_SANDBOX") is None:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def api(cluster):
    from oio import ObjectStorageApi

    # Every proxy: the client fails over when its host is cut off.
    proxies = ",".join(s.addr for s in cluster.settings.of_type("oioproxy"))
    return ObjectStorageApi(cluster.settings.namespace,
                            endpoint=f"http://{proxies}",
                            connection_timeout=1.0, read_timeout=5.0,
                            write_timeout=5.0)


def host_of(addr: str) -> str:
    return addr.rsplit(":", 1)[0]


def test_replicas_live_on_distinct_hosts(cluster, api):
    api.container_create(ACCOUNT, "spread")
    master, slaves = election(cluster.sandbox, "meta2", acct=ACCOUNT,
                              ref="spread")
    assert len({host_of(a) for a in [master, *slaves]}) == 3
    cid = cid_from_name(ACCOUNT, "spread")
    meta1_master, meta1_slaves = election(
        cluster.sandbox, "meta1",
        cid=cid[:cluster.settings.meta1_digits].ljust(4, "0"))
    assert len({host_of(a) for a in [meta1_master, *meta1_slaves]}) == 3
    zk = cluster.settings.zookeeper_hosts.split(",")
    assert len({host_of(a) for a in zk}) == 3


def _master_off_first_host(cluster, container: str) -> str:
    """The master of the container's base, moved off the first host (the
    one the test reaches first) if it was there."""
    first = cluster.hosts[0].ip
    for _ in range(10):
        master, _ = election(cluster.sandbox, "meta2", acct=ACCOUNT,
                             ref=container)
        if host_of(master) != first:
            return master
        admin(cluster.sandbox, "leave", "meta2", acct=ACCOUNT, ref=container,
              service_id=master)
        time.sleep(0.5)
    raise AssertionError("the master stays on the first host")


def _outage(cluster, api, container: str, make_outage, end_outage):
    for i in range(10):
        api.object_create(ACCOUNT, container, data=b"r" * 2048,
                          obj_name=f"before-{i}", policy="THREECOPIES")
    master = _master_off_first_host(cluster, container)
    victim = host_of(master)
    reads: list[str] = []

    def write_and_read(i: int) -> None:
        api.object_create(ACCOUNT, container, data=b"w" * 1024,
                          obj_name=f"w-{i:05d}", policy="THREECOPIES")
        name = f"before-{i % 10}"
        body = b"".join(api.object_fetch(ACCOUNT, container, name)[1])
        assert body == b"r" * 2048
        reads.append(name)

    stream = Stream(write_and_read).start()
    try:
        stream.wait_acks(5)
        began = time.monotonic()
        make_outage(victim)
        stream.wait_acks(5, timeout=90)
    finally:
        stream.stop()
    gap = stream.gap_after(began)
    for failure in stream.failed:
        print(f"  failed during the outage: {failure[2][:160]}")
    # Everything acknowledged is there while the host is still away.
    listed = {o["name"] for o in api.object_list(
        ACCOUNT, container, limit=10000)["objects"]}
    acked = {f"w-{i:05d}" for i, _ in stream.acked}
    assert acked <= listed
    new_master, _ = election(cluster.sandbox, "meta2", acct=ACCOUNT,
                             ref=container)
    assert host_of(new_master) != victim
    end_outage(victim)
    cluster.sandbox.wait_all_up(timeout=120)
    api.object_create(ACCOUNT, container, data=b"z", obj_name="after",
                      policy="THREECOPIES")
    shared = wait_same_content(base_files(
        cluster.sandbox, "meta2", meta2_base(ACCOUNT, container)), 60)
    assert acked <= {row[0] for row in shared["aliases"]}
    return gap


def test_a_host_cut_off_under_traffic_then_back(cluster, api):
    gap = _outage(cluster, api, "cut", cluster.cut, cluster.restore)
    print(f"host cut off: writes resumed {gap:.2f}s after")
    assert gap < OUTAGE_BOUND


def test_a_host_killed_under_traffic_then_back(cluster, api):
    gap = _outage(cluster, api, "killed", cluster.kill, cluster.revive)
    print(f"host killed: writes resumed {gap:.2f}s after")
    assert gap < OUTAGE_BOUND
