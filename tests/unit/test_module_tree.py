"""Every module of the seed's package tree (OpenIO 7.2's public modules,
shared/seed/oio-python-api-7.x.txt: 101 modules) imports, so code written
for 7.2 that imports them finds them."""

from __future__ import annotations

import importlib

import pytest

# (module, "package" or "module"), as the seed lists them.
SEED_MODULES = (
    ("oio.account", "package"),
    ("oio.api", "package"),
    ("oio.blob", "package"),
    ("oio.check_service", "package"),
    ("oio.cli", "package"),
    ("oio.cli.account", "package"),
    ("oio.cli.admin", "package"),
    ("oio.cli.admin.common", "module"),
    ("oio.cli.admin.item_check", "module"),
    ("oio.cli.admin.item_locate", "module"),
    ("oio.cli.admin.item_move", "module"),
    ("oio.cli.admin.item_rebuild", "module"),
    ("oio.cli.admin.item_repair", "module"),
    ("oio.cli.admin.item_vacuum", "module"),
    ("oio.cli.admin.service_check", "module"),
    ("oio.cli.admin.service_config", "module"),
    ("oio.cli.admin.service_decache", "module"),
    ("oio.cli.admin.service_info", "module"),
    ("oio.cli.admin.service_list", "module"),
    ("oio.cli.admin.service_rebuild", "module"),
    ("oio.cli.cluster", "package"),
    ("oio.cli.common", "package"),
    ("oio.cli.container", "package"),
    ("oio.cli.directory", "package"),
    ("oio.cli.election", "package"),
    ("oio.cli.events", "package"),
    ("oio.cli.lifecycle", "package"),
    ("oio.cli.object", "package"),
    ("oio.cli.rdir", "package"),
    ("oio.cli.reference", "package"),
    ("oio.cli.volume", "package"),
    ("oio.cli.zk", "package"),
    ("oio.cli.clientmanager", "module"),
    ("oio.common", "package"),
    ("oio.common.autocontainer", "module"),
    ("oio.common.cache", "module"),
    ("oio.common.client", "module"),
    ("oio.common.configuration", "module"),
    ("oio.common.constants", "module"),
    ("oio.common.daemon", "module"),
    ("oio.common.decorators", "module"),
    ("oio.common.easy_value", "module"),
    ("oio.common.exceptions", "module"),
    ("oio.common.fullpath", "module"),
    ("oio.common.green", "module"),
    ("oio.common.http", "module"),
    ("oio.common.http_eventlet", "module"),
    ("oio.common.http_urllib3", "module"),
    ("oio.common.json", "module"),
    ("oio.common.logger", "module"),
    ("oio.common.redis_conn", "module"),
    ("oio.common.storage_functions", "module"),
    ("oio.common.storage_method", "module"),
    ("oio.common.timestamp", "module"),
    ("oio.common.tool", "module"),
    ("oio.common.utils", "module"),
    ("oio.common.wsgi", "module"),
    ("oio.common.xattr", "module"),
    ("oio.conscience", "package"),
    ("oio.conscience.checker", "package"),
    ("oio.conscience.stats", "package"),
    ("oio.conscience.stats.base", "module"),
    ("oio.conscience.stats.beanstalkd", "module"),
    ("oio.conscience.stats.http", "module"),
    ("oio.conscience.stats.meta", "module"),
    ("oio.conscience.stats.proxy", "module"),
    ("oio.conscience.stats.rawx", "module"),
    ("oio.conscience.stats.system", "module"),
    ("oio.conscience.stats.volume", "module"),
    ("oio.conscience.agent", "module"),
    ("oio.conscience.client", "module"),
    ("oio.container", "package"),
    ("oio.content", "package"),
    ("oio.crawler", "package"),
    ("oio.directory", "package"),
    ("oio.ecd", "package"),
    ("oio.event", "package"),
    ("oio.event.filters", "package"),
    ("oio.event.filters.account_update", "module"),
    ("oio.event.filters.base", "module"),
    ("oio.event.filters.bury", "module"),
    ("oio.event.filters.content_cleaner", "module"),
    ("oio.event.filters.dump", "module"),
    ("oio.event.filters.logger", "module"),
    ("oio.event.filters.noop", "module"),
    ("oio.event.filters.notify", "module"),
    ("oio.event.filters.replicate", "module"),
    ("oio.event.filters.volume_index", "module"),
    ("oio.event.filters.webhook", "module"),
    ("oio.event.filters.xcute", "module"),
    ("oio.event.handlers", "package"),
    ("oio.event.agent", "module"),
    ("oio.event.beanstalk", "module"),
    ("oio.event.client", "module"),
    ("oio.event.consumer", "module"),
    ("oio.event.evob", "module"),
    ("oio.event.loader", "module"),
    ("oio.rdir", "package"),
    ("oio.rebuilder", "package"),
    ("oio.xcute", "package"),
    ("oio.zk", "package"),
)


def test_the_list_is_the_seeds():
    names = {name for name, _ in SEED_MODULES}
    assert len(SEED_MODULES) == len(names) == 101


@pytest.mark.parametrize(("name", "kind"), SEED_MODULES,
                         ids=[name for name, _ in SEED_MODULES])
def test_module_imports(name, kind):
    module = importlib.import_module(name)
    assert module.__name__ == name
    # A package (a directory) where the seed has one, a module elsewhere.
    assert hasattr(module, "__path__") == (kind == "package")
