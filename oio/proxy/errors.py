"""OpenIO status codes → HTTP statuses, as the proxy reports them.

The proxy answers errors as `{"status": <oio code>, "message": ...}`; the
HTTP status is derived from the oio code by the mappings of the proxy spec
(§2.3), with a few per-route overrides (§2.4) applied by the routes.
"""

from __future__ import annotations

from oio.common.exceptions import OioNetworkException, OioTimeout
from oio.common.http_server import HttpError
from oio.common.oio_status import http_status_of

# Network codes produced by the proxy itself (never sent by back-ends).
CODE_CONN_REFUSED = 2
CODE_CONN_TIMEOUT = 5
CODE_READ_TIMEOUT = 7
CODE_NETWORK_ERROR = 9


def oio_error(code: int, message: str, meta2: bool = False,
              http_status: int | None = None) -> HttpError:
    """An HttpError for oio status `code`; 503 answers carry Retry-After."""
    status = http_status or http_status_of(code, meta2)
    headers = {"Retry-After": "1"} if status == 503 else None
    return HttpError(status, message, status=code, headers=headers)


def network_error(exc: OioNetworkException, what: str = "") -> HttpError:
    """A back-end could not be reached: 503 with the network status code."""
    if isinstance(exc, OioTimeout):
        text = str(exc)
        code = CODE_CONN_TIMEOUT if "onnection" in text else CODE_READ_TIMEOUT
    elif "connect" in str(exc).lower():
        code = CODE_CONN_REFUSED
    else:
        code = CODE_NETWORK_ERROR
    prefix = f"{what}: " if what else ""
    return oio_error(code, f"{prefix}{exc}")


def bad_request(message: str) -> HttpError:
    return HttpError(400, message, status=400)
