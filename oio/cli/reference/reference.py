"""`openio reference ...`: directory entries (account, name) and the
services linked to them (meta2, rdir, sqlx...), through the proxy's
`reference/*` routes. Every command needs the account (--oio-account)."""

from __future__ import annotations

from oio.cli import Command, Lister, ShowOne
from oio.cli.utils import KeyValueAction


class _ReferenceMixin:
    @property
    def directory(self):
        return self.api.directory

    @property
    def account(self) -> str:
        return self.app.client_manager.account


def _add_reference(parser, help_text: str) -> None:
    parser.add_argument("reference", metavar="<reference>", help=help_text)


class ListReference(_ReferenceMixin, Lister):
    """List the services linked to a reference."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to list")
        return parser

    def take_action(self, parsed_args):
        data = self.directory.list(self.account, parsed_args.reference)
        return ("Type", "Host", "Args", "Seq"), [
            (d["type"], d["host"], d["args"], d["seq"])
            for d in data.get("srv") or ()]


class ShowReference(_ReferenceMixin, ShowOne):
    """Show a reference's ID and properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to show")
        return parser

    def take_action(self, parsed_args):
        data = self.directory.get_properties(self.account,
                                             parsed_args.reference)
        info = {"account": self.account, "name": parsed_args.reference,
                "cid": data.get("cid")}
        info.update({f"meta.{k}": v
                     for k, v in (data.get("properties") or {}).items()})
        return tuple(zip(*sorted(info.items()), strict=True))


class CreateReference(_ReferenceMixin, Lister):
    """Create references."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("references", metavar="<reference>", nargs="+",
                            help="Reference(s) to create")
        return parser

    def take_action(self, parsed_args):
        return ("Name", "Created"), [
            (ref, self.directory.create(self.account, reference=ref))
            for ref in parsed_args.references]


class DeleteReference(_ReferenceMixin, Command):
    """Delete references (they must have no linked service)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("references", metavar="<reference>", nargs="+",
                            help="Reference(s) to delete")
        return parser

    def take_action(self, parsed_args):
        for ref in parsed_args.references:
            self.directory.delete(self.account, reference=ref)


class _TypeCommand(_ReferenceMixin, Command):
    """Base of the commands taking a reference and a service type."""

    reference_help = "Reference to update"
    type_help = "Service type"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, self.reference_help)
        parser.add_argument("srv_type", metavar="<srv_type>",
                            help=self.type_help)
        return parser


class LinkReference(_TypeCommand):
    """Link services of a type to a reference (those already linked are
    kept)."""

    type_help = "Link services of type <srv_type> to the reference"

    def take_action(self, parsed_args):
        self.directory.link(self.account, parsed_args.reference,
                            parsed_args.srv_type)


class UnlinkReference(_TypeCommand):
    """Unlink the services of a type from a reference."""

    reference_help = "Reference to unlink"
    type_help = "Unlink services of <srv_type> from the reference"

    def take_action(self, parsed_args):
        self.directory.unlink(self.account, parsed_args.reference,
                              parsed_args.srv_type)


class PollReference(_TypeCommand):
    """Renew the services of a type linked to a reference: those down are
    replaced and the sequence number grows."""

    reference_help = "Reference to poll"
    type_help = "Poll services of type <srv_type>"

    def take_action(self, parsed_args):
        self.directory.renew(self.account, parsed_args.reference,
                             parsed_args.srv_type)


class ForceReference(_ReferenceMixin, Command):
    """Link exactly the given service(s) to a reference. Refused if the type
    already has services, unless --replace (unlink first to keep the
    sequence number)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to update")
        parser.add_argument("host", metavar="<host>",
                            help="Service addresses or IDs, comma-separated")
        parser.add_argument("type", metavar="<type>", help="Service type")
        parser.add_argument("--seq", metavar="<seq>", default=1, type=int,
                            help="Sequence number of the link (default 1)")
        parser.add_argument("--args", metavar="<args>", default="",
                            help="Arguments of the link")
        parser.add_argument("--replace", action="store_true", default=False,
                            help="Replace the services of this type instead "
                                 "of refusing when there are some")
        return parser

    def take_action(self, parsed_args):
        service = {"host": parsed_args.host, "type": parsed_args.type,
                   "args": parsed_args.args, "seq": parsed_args.seq}
        self.directory.force(self.account, parsed_args.reference,
                             parsed_args.type, service,
                             replace=parsed_args.replace)


class SetReference(_ReferenceMixin, Command):
    """Set reference properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to modify")
        parser.add_argument("--property", metavar="<key=value>",
                            action=KeyValueAction,
                            help="Property to add or update (repeatable)")
        parser.add_argument("--clear", action="store_true", default=False,
                            help="Delete the other properties first")
        return parser

    def take_action(self, parsed_args):
        self.directory.set_properties(self.account, parsed_args.reference,
                                      parsed_args.property or {},
                                      clear=parsed_args.clear)


class UnsetReference(_ReferenceMixin, Command):
    """Delete reference properties."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to modify")
        parser.add_argument("--property", metavar="<key>", action="append",
                            default=[], required=True,
                            help="Property to delete (repeatable)")
        return parser

    def take_action(self, parsed_args):
        self.directory.del_properties(self.account, parsed_args.reference,
                                      parsed_args.property)


class LocateReference(_ReferenceMixin, ShowOne):
    """Show the meta0 and meta1 services in charge of a reference."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_reference(parser, "Reference to locate")
        return parser

    def take_action(self, parsed_args):
        data = self.directory.list(self.account, parsed_args.reference)
        hosts: dict[str, list[str]] = {"meta0": [], "meta1": []}
        for srv in data.get("dir") or ():
            if srv.get("type") in hosts:
                hosts[srv["type"]].append(srv["host"])
        info = {"account": self.account, "name": parsed_args.reference,
                "cid": data.get("cid"),
                **{k: ", ".join(v) for k, v in hosts.items()}}
        return tuple(zip(*sorted(info.items()), strict=True))
