"""7.2's WSGI service helpers, on our HTTP core.

7.2 served its Python services (account, rdir, xcute, ecd) as werkzeug
apps under gunicorn with eventlet workers. Ours are async routers on the
shared HTTP core (`oio.common.http_server`), so what is kept here is what
code written for 7.2 needs to serve a WSGI callable: `Application(app,
conf).run()` and `init_request_processor`. The app runs in a thread per
request; the request body is read and the reply sent as streams.
`WerkzeugApp` exists only when werkzeug is installed (it is not a
dependency of oio)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

from oio.common.configuration import read_conf
from oio.common.http_server import Request, StreamResponse, run_service
from oio.common.thread_bridge import SyncRequestBody, primed, thread_iter

__all__ = ["Application", "init_request_processor", "wsgi_handler"]

logger = logging.getLogger("oio.common.wsgi")


def _environ(req: Request, body: io.BufferedReader, host: str,
             port: int) -> dict[str, Any]:
    env = {"REQUEST_METHOD": req.method, "SCRIPT_NAME": "",
           "PATH_INFO": req.path, "QUERY_STRING": req.query_string,
           "RAW_URI": req.raw_path, "SERVER_NAME": host,
           "SERVER_PORT": str(port),
           "SERVER_PROTOCOL": f"HTTP/{req.http_version}",
           "REMOTE_ADDR": str(req.peer[0]) if req.peer else "",
           "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
           "wsgi.input": body, "wsgi.errors": sys.stderr,
           "wsgi.multithread": True, "wsgi.multiprocess": False,
           "wsgi.run_once": False}
    for name, value in req.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    return env


def wsgi_handler(app: Callable, host: str = "127.0.0.1", port: int = 0):
    """An async handler of our HTTP core serving the WSGI callable `app`."""
    async def handler(req: Request) -> StreamResponse:
        loop = asyncio.get_running_loop()
        started: dict = {}
        env = _environ(req, io.BufferedReader(SyncRequestBody(req, loop)),
                       host, port)

        def start_response(status: str, headers: list, exc_info=None):
            started.update(status=status, headers=headers)
            return lambda data: None   # 7.2's apps never call write()

        def run() -> Iterator[bytes]:
            result = app(env, start_response)
            try:
                for data in result:
                    if data:
                        yield bytes(data)
            finally:
                getattr(result, "close", lambda: None)()

        try:   # the app has said its status by its first chunk (or end)
            body = await primed(thread_iter(run))
        except Exception:
            logger.exception("WSGI app failed")
            raise

        code, _, reason = started["status"].partition(" ")
        hdrs = dict(started["headers"])
        length = hdrs.pop("Content-Length", None) or \
            hdrs.pop("content-length", None)
        return StreamResponse(int(code), hdrs, body,
                              int(length) if length else None, reason or None)
    return handler


class Application:
    """Serve a WSGI `app` on `bind_addr:bind_port` of `conf` until
    SIGTERM/SIGINT."""

    def __init__(self, app: Callable, conf: dict,
                 logger_class: Any = None):
        self.application = app
        self.conf = conf

    def run(self) -> None:
        host = str(self.conf.get("bind_addr") or "127.0.0.1")
        port = int(self.conf.get("bind_port") or 6000)
        run_service(wsgi_handler(self.application, host, port), host, port,
                    name=str(self.conf.get("syslog_prefix") or "oio-wsgi"),
                    log_level=str(self.conf.get("log_level") or "INFO"))


def init_request_processor(conf_file: str, app_name: str,
                           app_factory: Callable, *args, **kwargs):
    """(app, conf): `[app_name]` of `conf_file`, and the app
    `app_factory(conf, *args, **kwargs)` built on it."""
    conf = read_conf(conf_file, app_name)
    return app_factory(conf, *args, **kwargs), conf


try:
    from werkzeug.exceptions import HTTPException as _HTTPException
    from werkzeug.wrappers import Request as _WRequest
except ImportError:   # werkzeug is optional
    pass
else:
    class WerkzeugApp:
        """A werkzeug URL map dispatching to `on_<endpoint>` methods."""

        def __init__(self, url_map, logger=None):
            self.url_map = url_map
            self.logger = logger or logging.getLogger("oio.wsgi")

        def dispatch_request(self, req):
            adapter = self.url_map.bind_to_environ(req.environ)
            try:
                endpoint, params = adapter.match()
                return getattr(self, "on_" + endpoint)(req, **params)
            except _HTTPException as exc:
                return exc

        def __call__(self, environ, start_response):
            resp = self.dispatch_request(_WRequest(environ))
            return resp(environ, start_response)

    __all__.append("WerkzeugApp")
