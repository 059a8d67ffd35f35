"""`policycheck schema KIND`: a JSON Schema of the report, policy, control or evidence."""

import argparse
import json
from typing import Any

from policycheck.cli.options import Parents
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "schema",
        parents=[parents.offline],
        help="print a JSON Schema: report, policy, control or evidence (a drill record)",
        description="Print the JSON Schema (draft 2020-12) of a policycheck file on stdout, "
        "generated from the models that read and write it: report (report.json), policy "
        "(policy.yaml), control (a file under controls/) or evidence (a DR drill record).",
    )
    parser.add_argument(
        "kind",
        choices=("report", "policy", "control", "evidence"),
        help="which file's schema: report, policy, control or evidence",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.generate.schemas import build_schema

    print(json.dumps(build_schema(args.kind), indent=2))
    return EXIT_PASS
