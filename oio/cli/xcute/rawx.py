"""`openio-admin xcute rawx rebuild|decommission <service_id>`."""

from __future__ import annotations

from .common import JobCreateCommand


class RawxRebuild(JobCreateCommand):
    """Rebuild the chunks of a rawx service (those its rdir lists as older
    than the volume's incident date), as an xcute job."""

    JOB_TYPE = "rawx-rebuild"
    RATE_OPTION = "--chunks-per-second"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--rawx-timeout", type=float,
                            help="Timeout of rawx requests (s)")
        parser.add_argument("--dry-run", action="store_true",
                            help="Only list the chunks to rebuild")
        parser.add_argument("--delete-faulty-chunks", action="store_true",
                            help="Delete the faulty chunks after rebuilding "
                                 "them")
        parser.add_argument("--allow-frozen-container", action="store_true",
                            help="Rebuild the chunks of frozen containers")
        parser.add_argument("--set-incident-date", action="store_true",
                            help="Set the volume's incident date to now")
        parser.add_argument("--set-specific-incident-date", type=int,
                            metavar="EPOCH",
                            help="Set the volume's incident date to this "
                                 "time")
        return parser

    def params(self, parsed_args) -> dict:
        params = super().params(parsed_args)
        params.update(
            rawx_timeout=parsed_args.rawx_timeout,
            dry_run=parsed_args.dry_run,
            try_chunk_delete=parsed_args.delete_faulty_chunks,
            allow_frozen_container=parsed_args.allow_frozen_container,
            set_incident_date=parsed_args.set_incident_date,
            set_specific_incident_date=parsed_args.set_specific_incident_date)
        return params


class RawxDecommission(JobCreateCommand):
    """Move the chunks of a rawx service to others, as an xcute job."""

    JOB_TYPE = "rawx-decommission"
    RATE_OPTION = "--chunks-per-second"

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--rawx-timeout", type=float,
                            help="Timeout of rawx requests (s)")
        parser.add_argument("--min-chunk-size", type=int,
                            help="Only move chunks at least that big (bytes)")
        parser.add_argument("--max-chunk-size", type=int,
                            help="Only move chunks at most that big (bytes)")
        parser.add_argument("--excluded-rawx", metavar="ID,ID",
                            help="Rawx services not to move chunks to")
        parser.add_argument("--usage-target", type=int,
                            help="Stop once the volume's usage (%%) is at "
                                 "most this")
        parser.add_argument("--usage-check-interval", type=float,
                            help="Seconds between checks of the usage")
        return parser

    def params(self, parsed_args) -> dict:
        params = super().params(parsed_args)
        params.update(
            rawx_timeout=parsed_args.rawx_timeout,
            min_chunk_size=parsed_args.min_chunk_size,
            max_chunk_size=parsed_args.max_chunk_size,
            excluded_rawx=parsed_args.excluded_rawx,
            usage_target=parsed_args.usage_target,
            usage_check_interval=parsed_args.usage_check_interval)
        return params
