"""Arguments shared by the `openio-admin` commands (as 7.2 names them), and
the clients they need beyond ObjectStorageApi."""

from __future__ import annotations

import argparse
from functools import cached_property

from oio.cli import clients
from oio.common.utils import cid_from_name


class AdminClients:
    """The clients of oio/cli/clients.py, built once per command, plus the
    service administration client."""

    def __init__(self, app) -> None:
        self.manager = app.client_manager

    @property
    def namespace(self) -> str:
        return self.manager.namespace

    @cached_property
    def conscience(self):
        return clients.conscience(self.manager)

    @cached_property
    def rdir(self):
        return clients.rdir(self.manager)

    @cached_property
    def rdir_dispatcher(self):
        return clients.rdir_dispatcher(self.manager)

    @cached_property
    def admin(self):
        from oio.admin.services import AdminClient

        return AdminClient(self.manager.storage, self.conscience)

    @property
    def meta1_digits(self) -> int:
        return clients.meta1_digits(self.manager)


def add_accounts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("accounts", nargs="*", metavar="<account_name>",
                        help="Account(s) to work on (default: --oio-account)")


def load_accounts(app, parsed_args) -> list[str]:
    if not parsed_args.accounts:
        parsed_args.accounts = [app.client_manager.account]
    return parsed_args.accounts


def add_containers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("containers", nargs="+", metavar="<container_name>",
                        help="Container(s) to work on")
    parser.add_argument("--cid", action="store_true", dest="is_cid",
                        help="Take <container_name> as container IDs")


def resolve_containers(app, parsed_args) -> list[tuple[str, str, str]]:
    """(account, name, cid) of each container argument."""
    out = []
    if parsed_args.is_cid:
        api = app.client_manager.storage
        for cid in parsed_args.containers:
            account, name = api.resolve_cid(cid)
            out.append((account, name, cid.upper()))
    else:
        account = app.client_manager.account
        for name in parsed_args.containers:
            out.append((account, name, cid_from_name(account, name)))
    return out


def add_objects(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container", nargs="?", metavar="<container_name>",
                        help="Name or ID (--cid) of the objects' container")
    parser.add_argument("objects", nargs="*", metavar="<object_name>",
                        help="Object(s) to work on")
    parser.add_argument("--object-version", metavar="<version>",
                        help="Version of the object (with one object)")
    parser.add_argument("--auto", action="store_true",
                        help="Compute the container from the object name "
                             "('flat_*' namespace settings)")
    parser.add_argument("--flat-bits", type=int,
                        help="Bits of the flat namespace computation")
    parser.add_argument("--cid", action="store_true", dest="is_cid",
                        help="Take <container_name> as a container ID")


def resolve_objects(app, parsed_args
                    ) -> tuple[str, list[str], list[tuple[str, str, str]]]:
    """(account, containers, [(container, object, version)])."""
    if parsed_args.auto:
        # The first positional is an object too: no container with --auto.
        builder = clients.flatns(app.client_manager, parsed_args.flat_bits)
        names = ([parsed_args.container] if parsed_args.container else []) \
            + list(parsed_args.objects)
        if not names:
            raise argparse.ArgumentError(None,
                                         "Missing value for object_name")
        objects = [(builder(obj), obj, parsed_args.object_version)
                   for obj in names]
        return (app.client_manager.account,
                sorted({c for c, _, _ in objects}), objects)
    if not parsed_args.container:
        raise argparse.ArgumentError(
            None, "Missing value for container_name or --auto")
    if not parsed_args.objects:
        raise argparse.ArgumentError(None, "Missing value for object_name")
    if parsed_args.is_cid:
        account, container = app.client_manager.storage.resolve_cid(
            parsed_args.container)
    else:
        account, container = app.client_manager.account, parsed_args.container
    objects = [(container, obj, parsed_args.object_version)
               for obj in parsed_args.objects]
    return account, [container], objects


def add_chunks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chunks", nargs="+", metavar="<chunk_url>",
                        help="URL of the chunk(s) to work on")


def add_service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", metavar="<service_id>",
                        help="ID or address of the service to work on")


def add_services(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="<service_id>",
                        help="ID of the service(s) to work on (default: all "
                             "services of the type)")


def load_services(clients: AdminClients, parsed_args, kind: str) -> list[str]:
    if not parsed_args.services:
        parsed_args.services = [
            s["id"] for s in clients.conscience.all_services(kind)]
    return parsed_args.services
