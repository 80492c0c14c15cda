"""Exceptions raised by the oio package.

Class names and hierarchy follow OpenIO's `oio.common.exceptions`, so that code
written for the upstream client catches the same classes here.
"""

from __future__ import annotations

import json


class OioException(Exception):
    pass


class ConfigurationException(OioException):
    pass


class MissingAttribute(OioException):
    def __init__(self, attribute):
        super().__init__(attribute)
        self.attribute = attribute

    def __str__(self):
        return str(self.attribute)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.attribute!r})"


class ChunkException(OioException):
    pass


class CorruptedChunk(ChunkException):
    pass


class FaultyChunk(ChunkException):
    """A chunk misses extended attributes, or they have invalid values."""


class OrphanChunk(ChunkException):
    pass


class CorruptDb(OioException):
    pass


class ServerException(OioException):
    pass


class Meta2Exception(OioException):
    pass


class SpareChunkException(Meta2Exception):
    """No spare chunk matching the criteria could be found."""


class ContentException(OioException):
    pass


class ContentDrained(ContentException):
    pass


class ContentNotFound(ContentException):
    pass


class UnrecoverableContent(ContentException):
    pass


class ServiceUnavailable(OioException):
    """Some services are temporarily unavailable; data is not lost."""


class ObjectUnavailable(ServiceUnavailable):
    pass


class CommandError(Exception):
    pass


class ExplicitBury(OioException):
    pass


class RejectMessage(OioException):
    pass


class RetryLater(RejectMessage):
    def __init__(self, *args, delay=None, topic=None):
        super().__init__(*args)
        self.delay = delay
        self.topic = topic


class ECError(Exception):
    pass


class EmptyByteRange(Exception):
    pass


class SourceNotInPeers(Exception):
    pass


class InvalidStorageMethod(OioException):
    pass


class PreconditionFailed(OioException):
    pass


class EtagMismatch(OioException):
    pass


class MissingContentLength(OioException):
    pass


class MissingData(OioException):
    pass


class MissingName(OioException):
    pass


class FileNotFound(OioException):
    pass


class LifecycleNotFound(OioException):
    pass


class ContainerNotEmpty(OioException):
    pass


class NoSuchAccount(OioException):
    pass


class NoSuchContainer(OioException):
    pass


class NoSuchObject(OioException):
    pass


class NoSuchReference(OioException):
    pass


class SourceReadError(OioException):
    pass


class OioNetworkException(OioException):
    """Network related exception (connection, timeout...)."""


class OioConnectionException(OioNetworkException):
    pass


class OioProtocolError(OioNetworkException):
    pass


class OioTimeout(OioNetworkException):
    pass


class SourceReadTimeout(OioTimeout):
    """A timeout while reading data from the client application."""


class DeadlineReached(OioException):
    """The deadline of an operation was reached; nothing continues in the
    background."""

    def __str__(self):
        if not self.args:
            return "Deadline reached"
        return super().__str__()


class VolumeException(OioException):
    """No rdir service is assigned to the volume."""


class StatusMessageException(OioException):
    """An error carrying an HTTP status, an OpenIO status and a message."""

    def __init__(self, http_status, status=None, message=None, **kwargs):
        self.http_status = http_status
        self.message = message or "n/a"
        self.status = status
        super().__init__(self.message)

    def __str__(self):
        out = f"{self.message} (HTTP {self.http_status})"
        if self.status:
            out += f" (STATUS {self.status})"
        return out


class UnfinishedUploadException(OioException):
    """Some chunks were uploaded before the upload failed."""

    def __init__(self, exception, chunks_already_uploaded):
        super().__init__()
        self.exception = exception
        self.chunks_already_uploaded = chunks_already_uploaded

    def reraise(self):
        raise self.exception


class ClientException(StatusMessageException):
    pass


def _client_exception(name: str, default_status: int, doc: str = ""):
    def __init__(self, http_status=default_status, status=None, message=None,
                 **kwargs):
        ClientException.__init__(self, http_status, status, message)

    return type(name, (ClientException,), {"__init__": __init__, "__doc__": doc})


BadRequest = _client_exception("BadRequest", 400, "The request is not correct.")
Unauthorized = _client_exception("Unauthorized", 401)
Forbidden = _client_exception("Forbidden", 403, "The operation is forbidden.")
NotFound = _client_exception("NotFound", 404, "The resource was not found.")
MethodNotAllowed = _client_exception("MethodNotAllowed", 405)
Conflict = _client_exception("Conflict", 409)
ClientPreconditionFailed = _client_exception("ClientPreconditionFailed", 412)
TooLarge = _client_exception("TooLarge", 413)
UnsatisfiableRange = _client_exception("UnsatisfiableRange", 416)
ServiceBusy = _client_exception(
    "ServiceBusy", 503, "The system is busy: retry in a few seconds.")

_http_status_map = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: ClientPreconditionFailed,
    413: TooLarge,
    416: UnsatisfiableRange,
    503: ServiceBusy,
}


def from_status(status: int, reason: str = "n/a") -> ClientException:
    cls = _http_status_map.get(status, ClientException)
    return cls(status, None, reason)


def from_response(resp, body=None) -> ClientException:
    """Build the exception matching an HTTP error response.

    The class depends only on the HTTP status; `status` and `message` come
    from a JSON body `{"status": N, "message": "..."}` when there is one.
    """
    http_status = getattr(resp, "status", None)
    if http_status is None:
        http_status = resp.status_code
    cls = _http_status_map.get(http_status, ClientException)
    if body:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body) if isinstance(body, str) else body
            if isinstance(parsed, dict):
                return cls(http_status, parsed.get("status"),
                           parsed.get("message"))
        except ValueError:
            pass
        return cls(http_status, None, body)
    return cls(http_status, getattr(resp, "reason", None), "n/a")


def from_multi_responses(data, excepted_status=(200,)):
    """Raise from a list of `(item, {"status": ...})` replies, if any failed."""
    for _item, result in data:
        status = result.get("status", {})
        code = status.get("status", 200) if isinstance(status, dict) else status
        if code not in excepted_status:
            msg = status.get("message") if isinstance(status, dict) else None
            raise from_status(code, msg or "n/a")
