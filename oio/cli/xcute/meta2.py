"""`openio-admin xcute meta2 rebuild|decommission <service_id>`."""

from __future__ import annotations

from .common import JobCreateCommand


class Meta2Rebuild(JobCreateCommand):
    """Copy the container bases of a meta2 service to the replicas that
    lack them, as an xcute job."""

    JOB_TYPE = "meta2-rebuild"
    RATE_OPTION = "--bases-per-second"


class Meta2Decommission(JobCreateCommand):
    """Move the container bases of a meta2 service to other meta2
    services, as an xcute job."""

    JOB_TYPE = "meta2-decommission"
    RATE_OPTION = "--bases-per-second"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--dst", metavar="<service_id>",
                            help="Destination meta2 (default: one per "
                                 "base, from the load balancer)")
        return parser

    def params(self, parsed_args) -> dict:
        params = super().params(parsed_args)
        params["dst"] = parsed_args.dst
        return params
