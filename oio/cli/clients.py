"""Clients of the cluster, reference, directory, volume, rdir and events
commands, built from the ClientManager's settings (namespace, --oio-proxy,
--admin) and sharing the API's connection pool."""

from __future__ import annotations

import random
from typing import Any

from oio.common.exceptions import CommandError


def _kwargs(manager) -> dict[str, Any]:
    conf = manager.client_conf
    out: dict[str, Any] = {"pool_manager": manager.storage.pool_manager,
                           "admin_mode": conf.get("admin_mode", False)}
    if conf.get("endpoint"):
        out["endpoint"] = conf["endpoint"]
    if conf.get("reqid"):
        out["reqid"] = conf["reqid"]
    return out


def _conf(manager) -> dict[str, str]:
    return {"namespace": manager.namespace}


def conscience(manager):
    from oio.conscience.client import ConscienceClient

    return ConscienceClient(_conf(manager), **_kwargs(manager))


def meta0(manager):
    from oio.directory.meta0_client import Meta0Client

    return Meta0Client(_conf(manager), **_kwargs(manager))


def rdir(manager):
    from oio.rdir.client import RdirClient

    return RdirClient(_conf(manager), **_kwargs(manager))


def chunk_operator(manager, logger=None):
    from oio.blob.operator import ChunkOperator

    return ChunkOperator(_conf(manager), logger=logger, **_kwargs(manager))


def rdir_dispatcher(manager):
    from oio.rdir.dispatcher import RdirDispatcher

    return RdirDispatcher(_conf(manager), **_kwargs(manager))


def meta1_digits(manager) -> int:
    """`ns.meta1_digits` of the local configuration, else the conscience's
    namespace options, else 4 (OpenIO's default)."""
    conf = manager.sds_conf
    value = conf.get("ns.meta1_digits", conf.get("meta1_digits"))
    if value is None:
        value = conscience(manager).info().get("options", {}).get(
            "meta1_digits", 4)
    return int(value)


def flatns(manager, bits: int | None = None, info: dict | None = None):
    """The namespace's autocontainer builder: the `flat_*` options of the
    conscience (`info`, fetched if not given), overridden by the local
    sds.conf, the bit length by `bits` (--flat-bits)."""
    from oio.common.autocontainer import flat_builder
    from oio.common.exceptions import ConfigurationException

    if info is None:
        info = conscience(manager).info()
    options = dict(info.get("options") or {})
    options.update(manager.sds_conf)
    try:
        return flat_builder(options, bits=bits)
    except ConfigurationException as err:
        raise CommandError(f"{err} (see --flat-bits)") from None


def beanstalk(manager):
    """A client of one of the namespace's beanstalkd (`event-agent` in the
    namespace configuration, `beanstalk://IP:PORT`, `;`-separated)."""
    from oio.event.beanstalk import Beanstalk

    endpoints = [u for u in manager.sds_conf.get("event-agent", "").split(";")
                 if u.strip()]
    if not endpoints:
        raise CommandError(
            f"No 'event-agent' endpoint in the configuration of namespace "
            f"{manager.namespace}: events go through beanstalkd "
            "(event-agent = beanstalk://IP:PORT)")
    try:
        return Beanstalk.from_url(random.choice(endpoints).strip())
    except ValueError as err:
        raise CommandError(f"Bad 'event-agent' setting: {err}") from None
