"""`policycheck init`: a starter policy.yaml, controls/ and drill evidence to adopt."""

import argparse
import datetime
from pathlib import Path
from typing import Any

from policycheck.cli.options import Parents
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "init",
        parents=[parents.offline],
        help="write a starter policy.yaml, controls/ and drill evidence that validate",
        description="Write, into a directory without them, a starter policy.yaml (one "
        "environment, a bucket and a drill bound to two checks), controls/BK.01.yaml "
        "(one control with a NIST-800-53 mapping) and dr-evidence/ with one example drill "
        "record dated today. They validate as written: edit them into your policy.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where to write them (default: the current directory)",
    )
    parser.add_argument(
        "--region",
        default=None,
        metavar="REGION",
        help="the environment's region (default: the configured AWS region, else us-east-1)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.archive import boto3_region
    from policycheck.init import starter, write_starter

    region = args.region or boto3_region()
    written = write_starter(args.dir, starter(region, datetime.date.today()))
    for path in written:
        print(f"wrote {path}")
    print("next: edit policy.yaml (your resources and checks), then `policycheck validate`")
    return EXIT_PASS
