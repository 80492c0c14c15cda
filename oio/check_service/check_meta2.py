"""A meta2 round trip: in account `_meta2_probe`, a random container
linked to this meta2 only and created there, then locate 404, prepare (autocreate) 200,
locate 404, create 204, locate 200 (the chunks prepared), delete 204,
locate 404; the container, its reference and the account are removed."""

from __future__ import annotations

import os

from oio.check_service.common import CheckFailed, CheckService
from oio.common import exceptions as exc

PROBE_ACCOUNT = "_meta2_probe"
SIZE = 1024
MISSING = (exc.NotFound, exc.NoSuchContainer, exc.NoSuchObject,
           exc.ContentNotFound)


class CheckMeta2(CheckService):
    service_type = "meta2"

    def __init__(self, namespace: str, conscience=None):
        super().__init__(namespace, conscience)
        from oio.account.client import AccountClient
        from oio.container.client import ContainerClient
        from oio.directory.client import DirectoryClient

        conf = {"namespace": namespace}
        self.directory = DirectoryClient(conf)
        self.container = ContainerClient(conf)
        self.account = AccountClient(conf)

    def _absent(self, step: str, ref: str) -> None:
        try:
            self.container.content_locate(PROBE_ACCOUNT, ref, "probe",
                                          properties=False)
        except MISSING:
            return
        raise CheckFailed(f"{step}: the object exists")

    def cycle(self, addr: str) -> None:
        ref = os.urandom(32).hex().upper()
        self.directory.create(PROBE_ACCOUNT, ref)
        try:
            # This meta2, and no other, holds the probe container.
            self.directory.unlink(PROBE_ACCOUNT, ref, "meta2")
            self.directory.force(PROBE_ACCOUNT, ref, "meta2",
                                 {"seq": 1, "type": "meta2", "host": addr,
                                  "args": ""})
            # Our proxy's autocreate makes a base only for a reference
            # without meta2: create it on the forced one.
            self.container.container_create(PROBE_ACCOUNT, ref)
            self._round_trip(ref)
        finally:
            self._cleanup(ref)

    def _round_trip(self, ref: str) -> None:
        self._absent("locate before prepare", ref)
        meta, chunks = self.container.content_prepare(
            PROBE_ACCOUNT, ref, "probe", size=SIZE, autocreate=True)
        self._absent("locate after prepare", ref)
        self.container.content_create(
            PROBE_ACCOUNT, ref, "probe", size=SIZE, data={"chunks": chunks},
            content_id=meta.get("id"), stgpol=meta.get("policy"),
            version=meta.get("version"), chunk_method=meta.get("chunk_method"),
            checksum="0" * 32)
        _, located = self.container.content_locate(PROBE_ACCOUNT, ref, "probe",
                                                   properties=False)
        if sorted(c["url"] for c in located) != sorted(c["url"] for c in
                                                       chunks):
            raise CheckFailed("locate: not the chunks created")
        if not self.container.content_delete(PROBE_ACCOUNT, ref, "probe"):
            raise CheckFailed("delete: not deleted")
        self._absent("locate after delete", ref)

    def _cleanup(self, ref: str) -> None:
        for step in (
                lambda: self.container.container_delete(PROBE_ACCOUNT, ref),
                lambda: self.directory.delete(PROBE_ACCOUNT, ref),
                lambda: self.account.account_delete(PROBE_ACCOUNT)):
            try:
                step()
            except exc.OioException:
                pass    # never created, or still used by another probe
