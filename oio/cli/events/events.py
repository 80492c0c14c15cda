"""`openio events ...`: the beanstalkd tubes behind the event agent
(`event-agent = beanstalk://IP:PORT` in the namespace configuration)."""

from __future__ import annotations

from oio.cli import Lister, ShowOne, clients
from oio.common.exceptions import CommandError
from oio.event.beanstalk import BeanstalkError

DEFAULT_TUBE = "oio"


class _BeanstalkMixin:
    def beanstalk(self):
        return clients.beanstalk(self.app.client_manager)

    def call(self, func, *args):
        """beanstalkd's refusals and an unreachable server as one-line
        errors (exit 1)."""
        try:
            return func(*args)
        except BeanstalkError as err:
            if err.reply.startswith("NOT_FOUND"):
                raise CommandError(f"No such tube: {args[0] if args else ''}"
                                   " (beanstalkd has no job in it and no "
                                   "client using it)") from None
            raise CommandError(f"beanstalkd refused: {err}") from None
        except OSError as err:
            raise CommandError(f"Cannot talk to beanstalkd: {err}") from None


class StatsEvents(_BeanstalkMixin, ShowOne):
    """Show the statistics of a tube (jobs ready, buried, delayed...)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--tube", metavar="<tube>",
                            help=f"Tube name (default '{DEFAULT_TUBE}')")
        return parser

    def take_action(self, parsed_args):
        client = self.beanstalk()
        try:
            data = self.call(client.stats_tube,
                             parsed_args.tube or DEFAULT_TUBE)
        finally:
            client.close()
        return tuple(zip(*sorted(data.items()), strict=True))


class EventsExhume(_BeanstalkMixin, ShowOne):
    """Make buried (or delayed) events of a tube ready again, so that the
    event agent retries them."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--tube", default=DEFAULT_TUBE,
                            help="Tube to exhume from "
                                 f"(default '{DEFAULT_TUBE}')")
        parser.add_argument("--limit", type=int, default=1000,
                            help="Maximum number of events (default 1000)")
        return parser

    def take_action(self, parsed_args):
        if parsed_args.limit < 1:
            raise CommandError("--limit must be at least 1")
        client = self.beanstalk()
        try:
            self.call(client.use, parsed_args.tube)
            count = self.call(client.kick, parsed_args.limit)
        finally:
            client.close()
        return ("Exhumed",), (count,)


class ListTubes(_BeanstalkMixin, Lister):
    """List the tubes of the beanstalkd behind the event agent."""

    def take_action(self, parsed_args):
        client = self.beanstalk()
        try:
            tubes = self.call(client.list_tubes)
        finally:
            client.close()
        return ("Tubes",), [(tube,) for tube in tubes]
