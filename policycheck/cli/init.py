"""`policycheck init`: a starter policy.yaml, controls/ and drill evidence to adopt."""

import argparse
import datetime
import functools
from pathlib import Path
from typing import Any

from policycheck.cli.options import Parents, add_endpoint_option
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "init",
        parents=[parents.common],  # --discover calls AWS
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
    parser.add_argument(
        "--discover",
        action="store_true",
        help="instead, list (read-only) the account's buckets, tables, repositories and "
        "services and print them as policy.yaml entries, grouped into {env} patterns where "
        "the names allow, each marked for you to confirm; writes nothing",
    )
    add_endpoint_option(parser, "with --discover: send the calls to this endpoint")
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.publish.archive import boto3_region
    from policycheck.starter.build import starter, write_starter

    region = args.region or boto3_region()
    if args.discover:
        print(_discovered(region, args.endpoint_url), end="")
        return EXIT_PASS
    written = write_starter(args.dir, starter(region, datetime.date.today()))
    for path in written:
        print(f"wrote {path}")
    print("next: edit policy.yaml (your resources and checks), then `policycheck validate`")
    return EXIT_PASS


def _discovered(region: str, endpoint_url: str | None) -> str:
    from policycheck.engine.aws import (
        client_config,
        configured_endpoint,
        default_session,
        make_client,
    )
    from policycheck.starter.build import discover, proposal_yaml

    session, endpoint = default_session(region), configured_endpoint(endpoint_url)
    config = client_config(4)

    @functools.cache
    def client(service: str) -> Any:
        return make_client(session, service, region, endpoint, config)

    return proposal_yaml(discover(client, region), region)
