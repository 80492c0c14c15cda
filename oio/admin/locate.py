"""Where an item lives: the services of an account, a container (meta0,
meta1, meta2), an object (its chunks on rawx) or a chunk (its object).

`ItemLocator` yields rows of the `openio-admin ... locate` commands:
(type, item, service id, address, location, status, error); a row whose
status is "error" also sets `success` to False.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote, urlparse

from oio.common import exceptions as exc
from oio.common.fullpath import encode_fullpath
from oio.common.utils import cid_from_name

Row = tuple
NO_SERVICE: dict = {"addr": None, "score": 0, "tags": {}}


def service_status(srv: dict) -> str:
    return f"up={srv['tags'].get('tag.up', False)}, score={srv['score']}"


class ItemLocator:
    """`api` is an ObjectStorageApi, `conscience` a ConscienceClient."""

    def __init__(self, api, conscience, namespace: str,
                 meta1_digits: int = 4) -> None:
        self.api = api
        self.conscience = conscience
        self.namespace = namespace
        self.meta1_digits = meta1_digits
        self.success = True
        self._services: dict[str, dict[str, dict]] = {}

    def services(self, kind: str) -> dict[str, dict]:
        """Services of a type by ID and by address (cached per run)."""
        if kind not in self._services:
            found: dict[str, dict] = {}
            for srv in self.conscience.all_services(kind):
                found[srv["id"]] = srv
                found.setdefault(srv["addr"], srv)
            self._services[kind] = found
        return self._services[kind]

    def _row(self, kind: str, item: str, srv_id, srv: dict,
             error=None) -> Row:
        if error is not None:
            self.success = False
        return (kind, item, srv_id, srv["addr"],
                srv["tags"].get("tag.loc", "n/a"),
                "error" if error is not None else service_status(srv),
                None if error is None else str(error))

    def _m1_prefix(self, cid: str) -> str:
        return cid[:self.meta1_digits].ljust(4, "0")[:4]

    # Accounts ----------------------------------------------------------------
    def locate_accounts(self, accounts: Iterable[str]) -> Iterator[Row]:
        for account in accounts:
            try:
                self.api.account_show(account)
            except exc.OioException as err:
                self.success = False
                yield ("account", account, "n/a", "n/a", "n/a", "error",
                       str(err))
                continue
            seen = set()
            for srv in self.services("account").values():
                if srv["id"] in seen:
                    continue
                seen.add(srv["id"])
                yield self._row("account", account, srv["id"], srv)

    # Containers --------------------------------------------------------------
    def locate_containers(self, containers: Iterable[tuple[str, str, str]],
                          with_account: bool = True) -> Iterator[Row]:
        """`containers`: (account, name, cid); a cid alone is resolved."""
        for account, name, cid in containers:
            try:
                if not name:
                    account, name = self.api.resolve_cid(cid)
                cid = cid or cid_from_name(account, name)
                links = self.api.directory.list(cid=cid)
            except (exc.NotFound, exc.ServiceBusy, exc.NoSuchReference) as err:
                cid = cid or cid_from_name(account or "", name or "")
                meta0_err = err if "meta0" in str(err) else None
                yield from self._meta0_rows(cid, error=meta0_err)
                self.success = False
                yield ("meta1", f"{cid} ({self._m1_prefix(cid)}.meta1)",
                       "n/a", "n/a", "n/a", "error", str(err))
                continue
            if with_account:
                yield from self.locate_accounts([account])
            yield from self._meta0_rows(
                cid, [x for x in links.get("dir") or () if x["type"] == "meta0"])
            all_m1 = self.services("meta1")
            for link in links.get("dir") or ():
                if link["type"] == "meta1":
                    yield self._row(
                        "meta1", f"{cid} ({self._m1_prefix(cid)}.meta1)",
                        link["host"], all_m1.get(link["host"], NO_SERVICE))
            item = f"{quote(account)}/{quote(name)} ({cid})"
            meta2 = [x for x in links.get("srv") or () if x["type"] == "meta2"]
            all_m2 = self.services("meta2")
            for link in meta2:
                yield self._row("meta2", item, link["host"],
                                all_m2.get(link["host"], NO_SERVICE))
            if not meta2:
                self.success = False
                yield ("meta2", item, None, None, None, "error",
                       "Reference exists but no meta2 service is linked")

    def _meta0_rows(self, cid: str, known: list[dict] | None = None,
                    error=None) -> Iterator[Row]:
        all_m0 = self.services("meta0")
        if known:
            found = [(x["host"], all_m0.get(x["host"], NO_SERVICE))
                     for x in known]
        else:
            found = list({s["id"]: (s["id"], s)
                          for s in all_m0.values()}.values())
        item = f"{self._m1_prefix(cid)} ({self.namespace}.meta0)"
        for srv_id, srv in found:
            yield self._row("meta0", item, srv_id, srv, error)

    # Objects -----------------------------------------------------------------
    def locate_objects(self, account: str,
                       objects: Iterable[tuple[str, str, str | None]]
                       ) -> Iterator[Row]:
        """`objects`: (container, object, version or None)."""
        for container, obj, version in objects:
            item = "/".join(quote(str(x)) for x in (account, container, obj,
                                                     version))
            try:
                meta, chunks = self.api.object_locate(
                    account, container, obj, version=version,
                    chunk_info=True, properties=False)
                item = encode_fullpath(account, container, obj,
                                       meta["version"], meta["id"])
            except exc.NoSuchContainer:
                self.success = False   # the container rows said why
                continue
            except (exc.NoSuchObject, exc.NotFound) as err:
                self.success = False
                yield ("rawx", item, None, None, None, "error", str(err))
                continue
            yield from self._chunk_rows(chunks, item)

    def _chunk_rows(self, chunks: Iterable[dict], fullpath: str | None = None
                    ) -> Iterator[Row]:
        all_rawx = self.services("rawx")
        for chunk in chunks:
            host = urlparse(chunk["url"]).netloc
            pos = chunk.get("pos") or chunk.get("chunk_pos")
            path = chunk.get("full_path") or fullpath
            yield self._row("rawx", f"{path} pos={pos} ({chunk['url']})",
                            host, all_rawx.get(host, NO_SERVICE),
                            chunk.get("error"))

    # Chunks ------------------------------------------------------------------
    def locate_chunks(self, urls: Iterable[str]) -> Iterator[Row]:
        for url in urls:
            chunk = {"url": url}
            try:
                chunk.update(self.api.blob_client.chunk_head(url))
            except exc.OioException as err:
                chunk["error"] = str(err)
            yield from self._chunk_rows([chunk])
