"""`policycheck controls`: the control catalog and the checks that evidence each control."""

import argparse
from typing import Any

from policycheck.cli.options import Parents, load
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "controls",
        parents=[parents.common, parents.policy],
        help="list the control catalog and the checks that evidence each control",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    _, catalog = load(args)
    rows = [
        [control.id, control.title, "\n".join(control.check_ids) or "(none: not assessed)"]
        for control in catalog.controls
    ]
    print(tabulate(rows, headers=["Control", "Title", "Checks"], tablefmt="simple"))
    return EXIT_PASS
