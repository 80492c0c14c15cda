"""The live configuration of a service: variables an operator reads and
changes while it runs (`GET|POST /config`, `openio-admin <type>
get-config|set-config`), as 7.2's services have.

A variable keeps the type of its default: a value that does not parse as
that type, or an unknown name, is refused (False in the reply) and leaves
the others applied.
"""

from __future__ import annotations

from oio.common.http_server import HttpError, Request, Response, Router, json_response

# µs a request may run on the server side (7.2's default and range).
MAX_RUN_TIME = "server.request.max_run_time"
SERVER_VARIABLES: dict[str, int] = {MAX_RUN_TIME: 300_000_000}
_RANGES = {MAX_RUN_TIME: (1_000, 3_600_000_000)}


class LiveConfig:
    """Named variables with typed values (int, bool or str)."""

    def __init__(self, defaults: dict[str, int | bool | str] | None = None):
        self._values: dict[str, int | bool | str] = dict(SERVER_VARIABLES)
        self._values.update(defaults or {})

    def __getitem__(self, name: str) -> int | bool | str:
        return self._values[name]

    def as_strings(self) -> dict[str, str]:
        return {k: (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in sorted(self._values.items())}

    def _parse(self, name: str, raw) -> int | bool | str | None:
        current = self._values[name]
        text = str(raw).strip()
        if isinstance(current, bool):
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            return None
        if isinstance(current, int):
            try:
                value = int(text)
            except ValueError:
                return None
            low, high = _RANGES.get(name, (None, None))
            if (low is not None and value < low) or (
                    high is not None and value > high):
                return None
            return value
        return text

    def update(self, params: dict) -> dict[str, bool]:
        """Apply what can be; {name: applied}."""
        result = {}
        for name, raw in params.items():
            value = self._parse(name, raw) if name in self._values else None
            if value is not None:
                self._values[name] = value
            result[name] = value is not None
        return result

    def register(self, router: Router, path: str = "/config") -> None:
        """GET `path`: the variables; POST `path` {name: value}: what was
        applied."""
        async def get_config(req: Request) -> Response:
            return json_response(self.as_strings())

        async def set_config(req: Request) -> Response:
            body = await req.json()
            if not isinstance(body, dict) or not body:
                raise HttpError(400, "A non-empty JSON object expected",
                                status=400)
            return json_response(self.update(body))

        router.add("GET", path, get_config)
        router.add("POST", path, set_config)
