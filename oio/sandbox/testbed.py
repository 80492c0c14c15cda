"""The test-bed mode of the sandbox: what OpenIO 7.2's own functional tests
read and watch, so that they run unchanged against our namespace.

Their tests find the namespace in a YAML file (named by the environment
variable SDS_TEST_CONFIG_FILE) and check that events were handled by
reading a copy of each one from the beanstalkd tube `oio-preserved`.
"""

from __future__ import annotations

import os

import yaml

from oio.sandbox.layout import SandboxSettings

# Where the event agents copy every event once their pipeline is done.
PRESERVED_TUBE = "oio-preserved"
# The filter doing that copy, last of every pipeline.
PRESERVE_FILTER = "preserve"
# The account OpenIO's tests work in.
TEST_ACCOUNT = "test_account"
# Their name for a service type, where it differs from ours.
TEST_TYPE_NAMES = {"oioproxy": "proxy"}
# Services that are ours only (their tests never look them up).
_NOT_LISTED = {"redis"}


def preserve_pipelines(pipelines: dict[str, str]) -> dict[str, str]:
    """Every pipeline ending with the copy to `oio-preserved`."""
    return {event: " ".join(filter(None, (pipeline, PRESERVE_FILTER)))
            for event, pipeline in pipelines.items()}


def preserve_filter(queue_url: str) -> dict[str, str]:
    return {"use": "egg:oio#notify", "tube": PRESERVED_TUBE,
            "queue_url": queue_url}


def upstream_test_config(s: SandboxSettings) -> dict:
    """The content of test.yml: the keys OpenIO's tests/utils.py and its
    suites read."""
    services: dict[str, list[dict]] = {}
    for spec in s.services:
        if spec.type in _NOT_LISTED:
            continue
        kind = TEST_TYPE_NAMES.get(spec.type, spec.type)
        # Their `num` is a string (gridinit keys are built from it).
        services.setdefault(kind, []).append(
            {"num": str(spec.num), "addr": spec.addr,
             "path": s.data_path(spec)})
    return {
        "namespace": s.namespace,
        "account": TEST_ACCOUNT,
        "proxy": s.proxy,
        "sds_path": s.root,
        "chunk_size": s.chunk_size,
        "storage_policy": s.storage_policy,
        "container_replicas": s.replicas,
        "directory_replicas": s.replicas,
        "meta1_digits": s.meta1_digits,
        "compression": "off",
        "monitor_period": 1,
        "config": {"ns.chunk_size": s.chunk_size,
                   "ns.storage_policy": s.storage_policy},
        "with_service_id": False,
        "random_service_id": False,
        "use_tls": False,
        "webhook": None,
        "services": services,
    }


def write_test_config(s: SandboxSettings) -> None:
    """test.yml, and a file of shell exports naming it and sds.conf."""
    os.makedirs(s.conf_dir, exist_ok=True)
    for path, text in (
            (s.test_conf, yaml.safe_dump(upstream_test_config(s),
                                         default_flow_style=False)),
            (s.test_env, f"export OIO_SDS_CONF={s.sds_conf}\n"
                         f"export SDS_TEST_CONFIG_FILE={s.test_conf}\n")):
        with open(path + ".tmp", "w") as out:
            out.write(text)
        os.replace(path + ".tmp", path)
