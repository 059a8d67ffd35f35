"""`policycheck archive REPORT_DIR s3://BUCKET/PREFIX`: keep a report set as evidence for
years, in S3, with its own role (`policycheck iam-policy --archive s3://…`)."""

import argparse
from pathlib import Path
from typing import Any

from policycheck.cli.options import Parents, add_endpoint_option, configure_logging
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "archive",
        parents=[parents.common],
        help="keep a report set as evidence in S3 (Object Lock retention, never overwritten)",
        description="Upload the report set in REPORT_DIR (as run, merge or demo wrote it) "
        "under s3://BUCKET/PREFIX/ENV-or-merged/YYYY/MM/DD/RUN-ID/. The set is checked against "
        "its SHA256SUMS and report.json read with the read-time checks before upload; each "
        "object carries its MD5 and SHA-256, is never overwritten, and is compared with "
        "SHA256SUMS in the archive after upload. A missing bucket, a refused write or a run "
        "already archived exits 2 before anything is uploaded. With --retain, each object "
        "gets Object Lock retention (COMPLIANCE) until then. Run it with a role of its own: "
        "`policycheck iam-policy --archive s3://BUCKET/PREFIX`.",
    )
    parser.add_argument(
        "report_dir",
        type=Path,
        metavar="REPORT_DIR",
        help="a report set: report.json and the files its SHA256SUMS lists",
    )
    parser.add_argument(
        "destination",
        metavar="s3://BUCKET/PREFIX",
        help="the evidence archive: a bucket (with versioning and Object Lock) and a prefix",
    )
    parser.add_argument(
        "--retain",
        default=None,
        metavar="PERIOD",
        help="keep each object at least this long, e.g. 3y or 400d (Object Lock COMPLIANCE "
        "retention; the bucket must have Object Lock) (default: the bucket's default "
        "retention, if any)",
    )
    parser.add_argument(
        "--run-id",
        default=None,
        metavar="ID",
        help="the run's folder name, e.g. the CI run's id and attempt (default: the report's "
        "start time and the first 12 hex digits of its SHA-256)",
    )
    add_endpoint_option(parser, "send the S3 calls to this endpoint, e.g. a moto server")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.publish.archive import ArchiveLocation, archive, s3_client

    configure_logging(args.verbose)
    location = ArchiveLocation.parse(args.destination)
    archived = archive(
        args.report_dir,
        location,
        s3_client(args.endpoint_url),
        retain=args.retain,
        run_id=args.run_id,
    )
    print(f"archived: {archived.uri}/ ({', '.join(archived.objects)}); SHA-256 verified")
    if archived.retained_until:
        print(
            f"retention: Object Lock COMPLIANCE until {archived.retained_until:%Y-%m-%d} on "
            "each object"
        )
    else:
        print("retention: none set by policycheck (the bucket's default retention, if any)")
    return EXIT_PASS
