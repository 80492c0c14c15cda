"""Validation of the addressing parameters and flags of proxy requests."""

from __future__ import annotations

from dataclasses import dataclass

from oio.common.constants import ACTION_MODE_HEADER
from oio.common.http_server import HttpError, Request, is_utf8
from oio.common.utils import cid_from_name, is_hexa, parse_bool

from .errors import bad_request

_HEX = frozenset("0123456789abcdefABCDEF")


def _hex(value: str) -> bool:
    return bool(value) and all(c in _HEX for c in value)


def normalize_cid(value: str) -> str:
    """64 upper hex from a CID, a base name `<CID>.<seq>` or a 1-4 hex
    prefix (right-padded with 0); HttpError 400 otherwise."""
    if len(value) > 64 and value[64:65] == "." and value[65:].isdigit():
        value = value[:64]
    if len(value) == 64 and _hex(value):
        return value.upper()
    if 1 <= len(value) <= 4 and _hex(value):
        return value.upper().ljust(64, "0")
    raise bad_request("Invalid oio url")


@dataclass
class OioUrl:
    """A container (and maybe an object) named by a request."""

    cid: str
    account: str | None = None
    reference: str | None = None
    path: str | None = None
    version: int | None = None
    content: str | None = None


def _utf8(args: dict[str, str], name: str, what: str) -> str | None:
    value = args.get(name)
    if value is not None and not is_utf8(value):
        raise bad_request(f"Invalid parameter '{what}', not UTF-8")
    return value


def container_url(args: dict[str, str]) -> OioUrl:
    """The fully qualified container of a request: `cid`, or `acct`+`ref`.

    Also reads `path`, `version` (only with `path`) and `content`.
    """
    account = _utf8(args, "acct", "account")
    reference = _utf8(args, "ref", "user")
    cid = args.get("cid")
    if cid is not None and cid != "":
        cid = normalize_cid(cid)
    elif account and reference:
        cid = cid_from_name(account, reference)
    else:
        raise bad_request("Invalid oio url: missing container "
                          "(acct and ref, or cid)")
    url = OioUrl(cid=cid, account=account or None,
                 reference=reference or None)
    url.path = _utf8(args, "path", "path")
    version = args.get("version")
    if url.path is not None and version is not None and version != "":
        try:
            url.version = int(version)
        except ValueError:
            raise bad_request(
                "Invalid parameter 'version', not a number") from None
    content = args.get("content")
    if content:
        url.content = content
    return url


def named_reference(args: dict[str, str]) -> tuple[str, str, str]:
    """(account, reference, cid) of a request that must name both."""
    account = _utf8(args, "acct", "account")
    reference = _utf8(args, "ref", "user")
    if not account or not reference:
        raise bad_request("Missing account or reference (acct, ref)")
    return account, reference, cid_from_name(account, reference)


def action_modes(req: Request) -> set[str]:
    raw = req.headers.get(ACTION_MODE_HEADER, "")
    return {m.strip().lower() for m in raw.split(",") if m.strip()}


def flag(req: Request, name: str, default: bool = False) -> bool:
    """A boolean option: query parameter first, else x-oio-action-mode."""
    value = req.args.get(name)
    if value is not None:
        parsed = parse_bool(value)
        return default if parsed is None else parsed
    if name in action_modes(req):
        return True
    return default


def presence_flag(req: Request, name: str) -> bool:
    """Flags that are set whatever their value (`all`, `flush`...)."""
    return name in req.args


def service_type(args: dict[str, str], message: str = "Missing type") -> str:
    kind = args.get("type")
    if not kind:
        raise bad_request(message)
    return kind


def valid_content_id(value: str | None) -> bool:
    """A content ID: a non-empty, even-length hex string."""
    return bool(value) and len(value) % 2 == 0 and is_hexa(value)


def check_namespace(req: Request, namespace: str,
                    http_status: int = 400) -> None:
    if req.match.get("ns") != namespace:
        code = 418 if http_status == 403 else 400
        raise HttpError(http_status, "Invalid parameter 'namespace'",
                        status=code)
