"""`policycheck demo`: the full audit of a simulated account (moto on loopback)."""

import argparse
import sys
from typing import Any

from policycheck.cli.options import (
    Parents,
    configure_logging,
    finish,
    load,
    prepare_output,
    progress,
)
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[parents.common, parents.policy, parents.audit],
        help="run the full audit against a simulated account (moto) and write the reports",
        description="Start moto on loopback, seed it from the policy (mostly compliant, with "
        "a few deliberate violations), run the full audit, write the reports and print the "
        "summary. Exits 0 when the demo ran. Never calls AWS.",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.demo.command import run_demo

    configure_logging(args.verbose)
    policy, catalog = load(args, shipped=True)
    prepare_output(args.output_dir)
    print(f"demo: policy {policy.path}", file=sys.stderr)
    report = run_demo(
        policy,
        catalog,
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
