"""HTTP routes of the replication layer, the same on meta0, meta1, meta2.

`/v1/sqlx/<call>`: the replicas' calls to each other (oio/sqlx/peers.py).
`/v1/sqlx/admin/<action>`: one replica's part of the proxy's `admin/*`
election actions (spec replication.md §5). Each answers HTTP 200 with
`{"status": <OpenIO status>, "message": ..., "body": ...}`: the proxy
gathers them per replica as 7.2's proxy does.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3

from oio.common.http_server import (
    FileResponse,
    HttpError,
    Request,
    Response,
    Router,
    json_response,
    run_blocking,
)

from . import errors
from .log import Position
from .replicator import Replicator

PREFIX = "/v1/sqlx"
MAX_APPLY_BODY = 256 * 1024 * 1024


def _int(req: Request, name: str, default: int | None = None) -> int | None:
    raw = req.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HttpError(400, f"Invalid parameter '{name}'",
                        status=400) from None


_PEER = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,255}$")


def peers_hint(req: Request) -> list[str]:
    """The replicas the proxy resolved for the base of a request (`peers`,
    comma-separated): used where this service knows none yet."""
    raw = req.args.get("peers") or ""
    peers = [p for p in raw.split(",") if p]
    if len(peers) > 64 or not all(_PEER.match(p) for p in peers):
        raise HttpError(400, "Invalid parameter 'peers'", status=400)
    return peers


def check_file(path: str) -> str | None:
    """None when the SQLite file `path` passes quick_check, else why not."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None if result == "ok" else str(result)


def _peer_answer(status: int = 200, message: str = "OK", body=None
                 ) -> Response:
    return json_response({"status": status, "message": message,
                          "body": "" if body is None else body})


def add_routes(router: Router, repl: Replicator) -> None:
    """The replication routes of `repl`'s service on `router`."""

    def base_of(req: Request) -> str:
        kind = req.args.get("type")
        if kind and kind != repl.kind:
            raise HttpError(400, f"This service serves {repl.kind} bases, "
                            f"not {kind}", status=400)
        base = req.args.get("base") or ""
        try:
            return repl.store.check_base(base)
        except ValueError as exc:
            raise HttpError(400, f"Invalid base {base!r}: {exc}",
                            status=400) from None

    def route(method: str, action: str):
        def decorator(func):
            router.add(method, f"{PREFIX}/{action}", func)
            return func
        return decorator

    # -- between replicas -----------------------------------------------------------
    @route("POST", "promise")
    async def promise(req: Request) -> Response:
        base = base_of(req)
        epoch = _int(req, "epoch")
        if epoch is None or epoch <= 0:
            raise HttpError(400, "Missing epoch", status=400)
        return json_response(await repl.on_promise(
            base, epoch, req.args.get("master", "")))

    @route("POST", "apply")
    async def apply(req: Request) -> Response:
        base = base_of(req)
        body = await req.json(MAX_APPLY_BODY)
        if not isinstance(body, dict):
            raise HttpError(400, "Expected a JSON object", status=400)
        status, answer = await repl.on_apply(base, body)
        return json_response(answer, status)

    @route("POST", "announce")
    async def announce(req: Request) -> Response:
        base = base_of(req)
        epoch = _int(req, "epoch", 0)
        return json_response(await repl.on_announce(
            base, epoch, req.args.get("master", "")))

    @route("GET", "log")
    async def log(req: Request) -> Response:
        base = base_of(req)
        after = Position(_int(req, "epoch", 0), _int(req, "version", 0))
        status, answer = await repl.on_log(base, after)
        return json_response(answer, status)

    @route("GET", "dump")
    async def dump(req: Request) -> Response:
        base = base_of(req)
        try:
            fd, size = await run_blocking(repl.store.dump, base)
        except LookupError:
            raise HttpError(404, f"No base {base} here",
                            status=errors.NOT_MANAGED) from None
        return FileResponse(200, {"Content-Type": "application/x-sqlite3"},
                            fd, 0, size)

    @route("POST", "resync")
    async def resync(req: Request) -> Response:
        base = base_of(req)
        source = req.args.get("from")
        if not source:
            raise HttpError(400, "Missing 'from'", status=400)
        await repl.on_resync(base, source, _int(req, "epoch"))
        return Response(202)

    @route("POST", "remove")
    async def remove(req: Request) -> Response:
        base = base_of(req)
        await repl.on_remove(base, _int(req, "epoch"))
        return Response(204)

    # -- one replica's part of admin/* -------------------------------------------------
    async def state(base: str, timeout: float):
        """(status, message) of the election of `base` after waiting up to
        `timeout` for a final state."""
        try:
            lease = await repl.gate(base, timeout=timeout)
        except errors.Redirect as exc:
            return errors.REDIRECT, exc.master
        except errors.ElectionPending:
            return 500, f"Election failed for {base}.{repl.kind}"
        except errors.NotManaged as exc:
            return errors.NOT_MANAGED, exc.message
        del lease
        return 200, "OK"

    @route("POST", "admin/ping")
    async def admin_ping(req: Request) -> Response:
        base = base_of(req)
        with contextlib.suppress(HttpError):
            peers = await repl.replicated_peers(base)
            if peers is not None:
                repl.election(base, peers).use()
        return _peer_answer()

    @route("POST", "admin/status")
    async def admin_status(req: Request) -> Response:
        base = base_of(req)
        timeout = min(20.0, max(0.1, (_int(req, "timeout_ms", 20000)) / 1000))
        status, message = await state(base, timeout)
        return _peer_answer(status, message)

    @route("POST", "admin/has")
    async def admin_has(req: Request) -> Response:
        """The path of the local replica: 431 when it is missing or does
        not pass SQLite's quick_check (a rebuild then replaces it)."""
        base = base_of(req)
        path = await run_blocking(repl.store.local_path, base)
        if path is None:
            return _peer_answer(errors.NOT_MANAGED,
                                f"Container not found : (2) {base}")
        problem = await run_blocking(check_file, path)
        if problem:
            return _peer_answer(errors.NOT_MANAGED,
                                f"Base corrupted: {base}: {problem}")
        return _peer_answer(body=path)

    @route("POST", "admin/sync")
    async def admin_sync(req: Request) -> Response:
        base = base_of(req)
        status, message = await state(base, 20.0)
        if status == 200:
            return _peer_answer(errors.NOT_SLAVE, "not SLAVE")
        if status != errors.REDIRECT:
            return _peer_answer(status, message)
        await repl.on_resync(base, message, None)
        return _peer_answer()

    @route("POST", "admin/leave")
    async def admin_leave(req: Request) -> Response:
        base = base_of(req)
        election = repl.elections.get(base)
        if election is not None and repl.zk is not None:
            await election.leave()
        return _peer_answer()

    @route("POST", "admin/debug")
    async def admin_debug(req: Request) -> Response:
        base = base_of(req)
        election = repl.elections.get(base)
        if election is not None:
            body = election.debug()
        else:
            with contextlib.suppress(HttpError):
                if await repl.replicated_peers(base) is None:
                    return _peer_answer(body={})
            body = None
        return _peer_answer(body=body)

    @route("POST", "admin/info")
    async def admin_info(req: Request) -> Response:
        return _peer_answer(body=info())

    @route("POST", "admin/remove")
    async def admin_remove(req: Request) -> Response:
        base = base_of(req)
        await run_blocking(repl.store.remove, base)
        await repl.forget(base)
        return _peer_answer()

    @route("POST", "admin/copy")
    async def admin_copy(req: Request) -> Response:
        """Body `{"from": id}`: copy the base from that replica, now."""
        base = base_of(req)
        body = await req.json()
        source = body.get("from") if isinstance(body, dict) else None
        if not isinstance(source, str) or not source:
            raise HttpError(400, "Expected {\"from\": <service id>}",
                            status=400)
        pos = await repl.copy_from(base, source)
        return _peer_answer(body={"position": pos.as_list()})

    @route("POST", "admin/vacuum")
    async def admin_vacuum(req: Request) -> Response:
        """On the master (a slave redirects): VACUUM, then the replicas
        do the same (`local`: this replica only)."""
        base = base_of(req)
        if "local" in req.args:
            await run_blocking(repl.store.vacuum, base)
            return _peer_answer()
        lease = await repl.gate(base)
        await run_blocking(repl.store.vacuum, base)
        if lease is not None:
            await repl.on_each_replica(lease, "admin/vacuum", local="1")
        return _peer_answer()

    def info() -> dict:
        stats = repl.stats()
        return {"type": repl.kind, "id": repl.self_id,
                "elections": {"master": stats["master"],
                              "slave": stats["slave"],
                              "other": stats["other"]},
                "zookeeper": repl.zk_hosts or None,
                "pid": os.getpid()}

    @route("POST", "balance")
    async def balance(req: Request) -> Response:
        """Give up at most `max` masterships (of bases idle for at least
        `inactivity` seconds): each election is left and joined again
        behind the others, so that another replica takes over. Answers
        the number given up (OpenIO's balance-masters)."""
        limit = max(1, min(9999, _int(req, "max", 100)))
        idle = max(0, min(86400, _int(req, "inactivity", 0)))
        done = await repl.give_up_masterships(limit, idle)
        return Response(200, str(done),
                        headers={"Content-Type": "text/plain"})

    @router.route("GET", f"{PREFIX}/info")
    async def get_info(req: Request) -> Response:
        return json_response(info())

