"""`policycheck drills`: the recovery-testing table (§5) from the drill evidence."""

import argparse
from datetime import UTC, datetime
from typing import Any

from policycheck.cli.options import Parents, load
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "drills",
        parents=[parents.offline, parents.policy],
        help="print the recovery-testing table (§5) filled in from the drill evidence",
        description="Print, as Markdown, the policy's recovery-testing table filled in from "
        "the evidence records: last tested, outcome, evidence location, next due. Reads the "
        "evidence directory only; no AWS call.",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.sources.repository.drill_table import drills_table

    policy, _ = load(args)
    print(drills_table(policy, datetime.now(UTC).date()))
    return EXIT_PASS
