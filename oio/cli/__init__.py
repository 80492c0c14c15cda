"""The `openio` and `openio-admin` command lines (cliff, as OpenIO 7.2).

Command classes derive from the three bases here: they set the exit code
from `success` (a command that handled several items and failed on some
exits 1 after printing every result), and they find the API and the
namespace settings through `self.app.client_manager` (oio/cli/shell.py).
"""

from __future__ import annotations

import os
from typing import Any

from cliff import command, lister, show


def add_common_parser_options(parser) -> None:
    """Options both CLIs take before the command name."""
    parser.add_argument(
        "--admin-flag", "--admin", dest="admin_mode", action="store_true",
        help="Send the 'admin mode' flag with every request to oio-proxy.")
    parser.add_argument(
        "-a", "--account", "--oio-account", metavar="<account>",
        dest="account", default=os.environ.get("OIO_ACCOUNT", ""),
        help="Account name (Env: OIO_ACCOUNT).")
    parser.add_argument(
        "--ns", "--oio-ns", metavar="<namespace>", dest="ns",
        default=os.environ.get("OIO_NS", ""),
        help="Namespace name (Env: OIO_NS; default: the only namespace of "
             "the configuration files).")
    parser.add_argument(
        "--oio-proxy", "--oio-proxyd-url", metavar="<proxy-url>",
        dest="proxyd_url",
        default=os.environ.get("OIO_PROXY") or os.environ.get(
            "OIO_PROXYD_URL", ""),
        help="URL of an oio-proxy (Env: OIO_PROXY or OIO_PROXYD_URL).")
    parser.add_argument(
        "--request-id", "--req-id", metavar="<request-id>",
        help="Request ID sent with every request (at most 63 characters).")


def flat_dict_from_dict(parsed_args, data: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}, lists joined by lines for tables."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat_dict_from_dict(parsed_args, value,
                                           f"{prefix}{key}."))
            continue
        if isinstance(value, list) and getattr(
                parsed_args, "formatter", None) == "table":
            value = "\n".join(str(v) for v in value)
        out[f"{prefix}{key}"] = value
    return out


class _SuccessMixin:
    """A command sets `self.success = False` to exit 1 after its output."""

    success = True

    def run(self, parsed_args):
        code = super().run(parsed_args)
        return code or int(not self.success)

    @property
    def api(self):
        return self.app.client_manager.storage


class Command(_SuccessMixin, command.Command):
    pass


class Lister(_SuccessMixin, lister.Lister):
    pass


class ShowOne(_SuccessMixin, show.ShowOne):
    pass


class Unavailable(Command):
    """Placeholder of a command whose backing feature does not exist yet:
    it says so and exits 1 instead of pretending (see oio/cli/registry.py)."""

    reason = "not available in this version"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # Accept whatever upstream's command accepts, to answer clearly.
        parser.add_argument("args", nargs="*", help="ignored")
        return parser

    def take_action(self, parsed_args):
        from oio.common.exceptions import CommandError

        raise CommandError(
            f"'{self.cmd_name}' is not available: {self.reason}")

    def __init__(self, app, app_args, cmd_name=None):
        super().__init__(app, app_args, cmd_name=cmd_name)
        self.cmd_name = cmd_name


def unavailable(reason: str) -> type[Unavailable]:
    return type("Unavailable", (Unavailable,), {
        "reason": reason, "__doc__": f"Not available: {reason}."})
