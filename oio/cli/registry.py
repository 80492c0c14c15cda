"""Every command of `openio` and `openio-admin`, by name, as OpenIO 7.2.

A value is "module:Class" (imported only when the command runs or help
describes it, so the CLI starts fast), or an `Unavailable(reason)` for a
command whose backing feature does not exist yet: it keeps its place in
`openio help` and answers with the reason and exit code 1.
"""

from __future__ import annotations

from typing import NamedTuple


class Unavailable(NamedTuple):
    reason: str


NO_REBUILD = Unavailable("rebuilders, movers and vacuum come with the "
                         "self-healing issue")

_ACCOUNT = "oio.cli.account.account"
_CONTAINER = "oio.cli.container.container"
_BUCKET = "oio.cli.bucket.bucket"
_OBJECT = "oio.cli.object.object"
_REFERENCE = "oio.cli.reference.reference"
_VOLUME = "oio.cli.volume.volume"
_RDIR = "oio.cli.rdir.rdir"
_DIRECTORY = "oio.cli.directory.directory"
_EVENTS = "oio.cli.events.events"
_CLUSTER = "oio.cli.cluster.cluster"
_ZK = "oio.cli.zk.zk"
_ELECTION = "oio.cli.election.election"


def _group(module: str, **commands: str) -> dict:
    return {name.replace("_", " "): f"{module}:{cls}"
            for name, cls in commands.items()}


OPENIO: dict[str, str | Unavailable] = {
    **_group(_ACCOUNT, account_show="ShowAccount",
             account_create="CreateAccount", account_delete="DeleteAccount",
             account_list="ListAccounts", account_set="SetAccount",
             account_unset="UnsetAccount", account_refresh="RefreshAccount",
             account_flush="FlushAccount"),
    **_group(_BUCKET, bucket_list="ListBuckets", bucket_set="SetBucket",
             bucket_show="ShowBucket", bucket_refresh="RefreshBucket"),
    **_group(_CONTAINER, container_create="CreateContainer",
             container_delete="DeleteContainer",
             container_flush="FlushContainer", container_list="ListContainer",
             container_locate="LocateContainer",
             container_purge="PurgeContainer",
             container_refresh="RefreshContainer",
             container_save="SaveContainer", container_set="SetContainer",
             container_show="ShowContainer",
             container_snapshot="SnapshotContainer",
             container_touch="TouchContainer",
             container_unset="UnsetContainer"),
    **_group(_OBJECT, object_locate="LocateObject", object_show="ShowObject",
             object_create="CreateObject", object_save="SaveObject",
             object_drain="DrainObject", object_delete="DeleteObject",
             object_touch="TouchObject", object_list="ListObject",
             object_purge="PurgeObject", object_set="SetObject",
             object_unset="UnsetObject", object_link="LinkObject"),
    **_group(_REFERENCE, reference_locate="LocateReference",
             reference_show="ShowReference", reference_list="ListReference",
             reference_create="CreateReference",
             reference_delete="DeleteReference",
             reference_set="SetReference", reference_unset="UnsetReference",
             reference_link="LinkReference", reference_poll="PollReference",
             reference_unlink="UnlinkReference",
             reference_force="ForceReference"),
    **_group(_VOLUME, volume_show="ShowVolume",
             volume_assignation="DisplayVolumeAssignation"),
    "volume admin incident": f"{_VOLUME}:IncidentAdminVolume",
    "volume admin lock": f"{_VOLUME}:LockAdminVolume",
    "volume admin unlock": f"{_VOLUME}:UnlockAdminVolume",
    "volume admin show": f"{_VOLUME}:ShowAdminVolume",
    "volume admin clear": f"{_VOLUME}:ClearAdminVolume",
    "volume admin bootstrap": f"{_VOLUME}:BootstrapVolume",
    **_group(_RDIR, rdir_bootstrap="RdirBootstrap",
             rdir_assignments="RdirAssignments"),
    **_group(_DIRECTORY, directory_bootstrap="DirectoryInit",
             directory_check="DirectoryCheck",
             directory_decommission="DirectoryDecommission",
             directory_dump="DirectoryList",
             directory_rebalance="DirectoryRebalance",
             directory_restore="DirectoryRestore",
             directory_warmup="DirectoryWarmup"),
    **_group(_EVENTS, events_exhume="EventsExhume", events_tubes="ListTubes",
             events_stats="StatsEvents"),
    **_group(_CLUSTER, cluster_show="ClusterShow", cluster_list="ClusterList",
             cluster_unlockall="ClusterUnlockAll",
             cluster_unlock="ClusterUnlock", cluster_lock="ClusterLock",
             cluster_flush="ClusterFlush",
             cluster_deregister="ClusterDeregister",
             cluster_resolve="ClusterResolve", cluster_wait="ClusterWait"),
    "cluster local list": f"{_CLUSTER}:ClusterLocalList",
    "cluster local conf": f"{_CLUSTER}:LocalNSConf",
    **_group(_ELECTION, election_debug="ElectionDebug",
             election_leave="ElectionLeave", election_ping="ElectionPing",
             election_status="ElectionStatus", election_sync="ElectionSync"),
    **_group(_ZK, zk_reset="ElectionReset", zk_stat="ElectionStat",
             zk_smudge="ElectionSmudge", zk_armageddon="HierarchyArmageddon",
             zk_bootstrap="HierarchyBootstrap"),
    **_group("oio.cli.lifecycle.lifecycle", lifecycle_apply="LifecycleApply",
             lifecycle_get="LifecycleGet", lifecycle_set="LifecycleSet"),
}

_CHECK = "oio.cli.admin.item_check"
_LOCATE = "oio.cli.admin.item_locate"
_REPAIR = "oio.cli.admin.item_repair"
_SCHECK = "oio.cli.admin.service_check"
_SCONF = "oio.cli.admin.service_config"
_SINFO = "oio.cli.admin.service_info"
_DECACHE = "oio.cli.admin.service_decache"
_SLIST = "oio.cli.admin.service_list"
_BLOB_REBUILD = "oio.cli.admin.blob_rebuild"

ADMIN: dict[str, str | Unavailable] = {
    "account check": f"{_CHECK}:AccountCheck",
    "account locate": f"{_LOCATE}:AccountLocate",
    "account repair": f"{_REPAIR}:AccountRepair",
    "chunk check": f"{_CHECK}:ChunkCheck",
    "chunk locate": f"{_LOCATE}:ChunkLocate",
    "container check": f"{_CHECK}:ContainerCheck",
    "container locate": f"{_LOCATE}:ContainerLocate",
    "container repair": f"{_REPAIR}:ContainerRepair",
    "object check": f"{_CHECK}:ObjectCheck",
    "object locate": f"{_LOCATE}:ObjectLocate",
    "object repair": f"{_REPAIR}:ObjectRepair",
    "directory check": f"{_SCHECK}:DirectoryCheck",
    "meta0 check": f"{_SCHECK}:Meta0Check",
    "meta1 check": f"{_SCHECK}:Meta1Check",
    "rawx check": f"{_SCHECK}:RawxCheck",
    "rdir check": f"{_SCHECK}:RdirCheck",
    "conscience get-config": f"{_SCONF}:ServiceGetConfig",
    **{f"{kind} get-config": f"{_SCONF}:ServiceGetConfig"
       for kind in ("meta0", "meta1", "meta2", "sqlx")},
    **{f"{kind} set-config": f"{_SCONF}:ServiceSetConfig"
       for kind in ("meta0", "meta1", "meta2", "sqlx")},
    "oioproxy get-config": f"{_SCONF}:ProxyGetConfig",
    "oioproxy set-config": f"{_SCONF}:ProxySetConfig",
    **{f"{kind} info": f"{_SINFO}:ServiceInfo"
       for kind in ("meta0", "meta1", "meta2", "sqlx")},
    "meta1 decache": f"{_DECACHE}:Meta1Decache",
    "meta2 decache": f"{_DECACHE}:Meta2Decache",
    "oioproxy decache": f"{_DECACHE}:ProxyDecache",
    "meta2 list containers": f"{_SLIST}:Meta2ListContainers",
    "rawx list containers": f"{_SLIST}:RawxListContainers",
    "rdir reassign": "oio.cli.admin.rdir_reassign:RdirReassign",
    "container move": "oio.cli.admin.item_move:ContainerMove",
    "meta1 rebuild": "oio.cli.admin.service_rebuild:Meta1Rebuild",
    "meta2 rebuild": "oio.cli.admin.service_rebuild:Meta2Rebuild",
    **_group(_ELECTION, election_debug="ElectionDebug",
             election_leave="ElectionLeave", election_ping="ElectionPing",
             election_status="ElectionStatus", election_sync="ElectionSync",
             election_balance="ElectionBalance"),
    "container vacuum": "oio.cli.admin.item_vacuum:ContainerVacuum",
    "rawx rebuild": f"{_BLOB_REBUILD}:RawxRebuild",
    "chunk rebuild": f"{_BLOB_REBUILD}:ChunkRebuild",
    "rawx distributed-rebuild": f"{_BLOB_REBUILD}:RawxDistributedRebuild",
    "chunk distributed-rebuild": f"{_BLOB_REBUILD}:ChunkDistributedRebuild",
    "account-service rebuild":
        "oio.cli.admin.service_rebuild:AccountServiceRebuild",
    "xcute job list": "oio.cli.xcute.job:JobList",
    "xcute job show": "oio.cli.xcute.job:JobShow",
    "xcute job pause": "oio.cli.xcute.job:JobPause",
    "xcute job resume": "oio.cli.xcute.job:JobResume",
    "xcute job update": "oio.cli.xcute.job:JobUpdate",
    "xcute job delete": "oio.cli.xcute.job:JobDelete",
    "xcute lock list": "oio.cli.xcute.lock:LockList",
    "xcute lock show": "oio.cli.xcute.lock:LockShow",
    "xcute rawx rebuild": "oio.cli.xcute.rawx:RawxRebuild",
    "xcute rawx decommission": "oio.cli.xcute.rawx:RawxDecommission",
    "xcute meta2 rebuild": "oio.cli.xcute.meta2:Meta2Rebuild",
    "xcute meta2 decommission": "oio.cli.xcute.meta2:Meta2Decommission",
}
