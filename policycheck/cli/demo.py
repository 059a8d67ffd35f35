"""`policycheck demo`: the full audit of a simulated account (moto on loopback)."""

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any

from policycheck.cli.options import (
    Parents,
    configure_logging,
    finish,
    load,
    prepare_output,
    progress,
)
from policycheck.errors import EXIT_PASS

if TYPE_CHECKING:
    from policycheck.policy.load import Policy


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[parents.common, parents.policy, parents.audit],
        help="run the full audit against a simulated account (moto) and write the reports",
        description="Start moto on loopback, seed it from the policy (mostly compliant, with "
        "a few deliberate violations), run the full audit, write the reports and print the "
        "summary. Exits 0 when the demo ran. Never calls AWS. With --serve, the seeded account "
        "stays up instead, for any command to run against.",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="instead of auditing: keep the seeded account up until Ctrl-C, and print the "
        "shell lines that point AWS_ENDPOINT_URL and dummy credentials at it and change to "
        "a directory holding the demo's policy.yaml, controls/ and drill evidence",
    )
    parser.add_argument(
        "--compliant",
        action="store_true",
        help="seed without the deliberate violations (every check passes)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.demo.command import run_demo

    configure_logging(args.verbose)
    policy, catalog = load(args, shipped=True)
    if args.serve:
        return _serve(policy, args.compliant)
    prepare_output(args.output_dir)
    print(f"demo: policy {policy.path}", file=sys.stderr)
    report = run_demo(
        policy,
        catalog,
        compliant=args.compliant,
        max_workers=args.max_workers,
        progress=progress(),
        deadline_seconds=args.deadline,
    )
    failures = [result for result in report.results if result.status == "fail"]
    print(
        f"demo: simulated account (moto on loopback); {len(failures)} deliberate "
        "violation(s), as the report has them:",
        file=sys.stderr,
    )
    for result in failures:
        print(
            f"  - {result.environment}: {result.check_id} on {result.resource.name}",
            file=sys.stderr,
        )
    finish(report, args)
    return EXIT_PASS


def _serve(policy: "Policy", compliant: bool) -> int:
    """The seeded account until Ctrl-C (or SIGTERM): the shell lines to use it on stdout."""
    import threading

    from policycheck.demo.command import demo_account, write_workspace
    from policycheck.demo.seeding import DEMO_CREDENTIALS

    with demo_account(policy, compliant) as (demo_policy, endpoint_url, deviations):
        directory = write_workspace(policy, demo_policy)
        region = next(iter(demo_policy.environments.values())).region_names[0]
        print(f"export AWS_ENDPOINT_URL={endpoint_url}")
        print(f"export AWS_ACCESS_KEY_ID={DEMO_CREDENTIALS['aws_access_key_id']}")
        print(f"export AWS_SECRET_ACCESS_KEY={DEMO_CREDENTIALS['aws_secret_access_key']}")
        print(f"export AWS_DEFAULT_REGION={region}")
        print(f"cd {shlex.quote(str(directory))}", flush=True)
        print(
            f"demo: simulated account on {endpoint_url}, seeded from {policy.path} with "
            f"{len(deviations)} deliberate violation(s); paste the lines above into another "
            "shell; Ctrl-C stops it and removes the directory",
            file=sys.stderr,
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("demo: stopped", file=sys.stderr)
    return EXIT_PASS
