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
    policy, catalog = load(args)
    prepare_output(args.output_dir)
    print(f"demo: policy {policy.path}", file=sys.stderr)
    report, deviations = run_demo(
        policy,
        catalog,
        max_workers=args.max_workers,
        progress=progress(),
        deadline_seconds=args.deadline,
    )
    print("demo: simulated account (moto on loopback); deliberate violations:", file=sys.stderr)
    for deviation in deviations:
        print(
            f"  - {deviation.environment}: {deviation.check_id} on {deviation.resource_name}",
            file=sys.stderr,
        )
    finish(report, args)
    return EXIT_PASS
