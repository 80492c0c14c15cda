"""The `ClientManager` of the CLI applications: the clients a command
uses, built on first use from the global options (--oio-ns,
--oio-account, --oio-proxy, --admin, --request-id), with 7.2's property
names so that commands written for 7.2 (cliff plugins) find them."""

from __future__ import annotations

import logging
from functools import cached_property

from oio.cli import clients
from oio.common.configuration import configured_namespaces, load_namespace_conf
from oio.common.exceptions import CommandError


class ClientManager:
    def __init__(self, options) -> None:
        self.options = options
        self._flatns_bits: int | None = None

    @cached_property
    def namespace(self) -> str:
        if self.options.ns:
            return self.options.ns
        sections = configured_namespaces()
        if len(sections) == 1:
            return sections[0]
        raise CommandError(
            "Set the namespace with --oio-ns or the OIO_NS environment "
            f"variable (configured: {', '.join(sections) or 'none'})")

    @property
    def account(self) -> str:
        if not self.options.account:
            raise CommandError(
                "Set the account with --oio-account or the OIO_ACCOUNT "
                "environment variable")
        return self.options.account

    @property
    def admin_mode(self) -> bool:
        return bool(self.options.admin_mode)

    @cached_property
    def sds_conf(self) -> dict:
        return load_namespace_conf(self.namespace, failsafe=True)

    @cached_property
    def client_conf(self) -> dict:
        """Keyword arguments every client of this run shares."""
        conf: dict = {"admin_mode": self.admin_mode}
        if self.options.proxyd_url:
            url = self.options.proxyd_url
            conf["endpoint"] = url if "://" in url else f"http://{url}"
        if self.options.request_id:
            conf["reqid"] = self.options.request_id
        return conf

    @cached_property
    def storage(self):
        from oio import ObjectStorageApi

        return ObjectStorageApi(self.namespace, **self.client_conf)

    @property
    def pool_manager(self):
        return self.storage.pool_manager

    # 7.2's other clients ------------------------------------------------------
    @cached_property
    def logger(self) -> logging.Logger:
        return logging.getLogger("oio.cli")

    @cached_property
    def account_client(self):
        return self.storage.account

    @cached_property
    def conscience(self):
        return clients.conscience(self)

    @cached_property
    def rdir(self):
        return clients.rdir(self)

    @cached_property
    def rdir_dispatcher(self):
        return clients.rdir_dispatcher(self)

    @cached_property
    def xcute_client(self):
        from oio.cli.xcute.common import xcute_client

        return xcute_client(self)

    @cached_property
    def admin(self):
        """The service administration client (`openio-admin` commands)."""
        from oio.admin.services import AdminClient

        return AdminClient(self.storage, self.conscience)

    @cached_property
    def meta1_digits(self) -> int:
        return clients.meta1_digits(self)

    @cached_property
    def nsinfo(self) -> dict:
        """The namespace's `conscience/info`."""
        return self.conscience.info()

    def flatns_set_bits(self, bits: int) -> None:
        self._flatns_bits = bits
