"""`policycheck diff OLD NEW`: what changed between two reports."""

import argparse
from typing import Any

from policycheck.cli.options import Parents, load_report, report_location
from policycheck.errors import EXIT_FAIL, EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "diff",
        parents=[parents.offline],
        help="what changed between two reports (new and resolved failures, new errors, waivers)",
        description="Compare two report.json files. Results OLD has and NEW lacks are "
        "'not compared', never 'resolved'. Exit 0, or with --fail-on-new exit 1 when there "
        "are new failures, new errors, or NEW assesses less than OLD (an environment, account "
        "or check missing).",
    )
    parser.add_argument("old", type=report_location, help="the earlier report.json")
    parser.add_argument("new", type=report_location, help="the later report.json")
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="output on stdout (default: markdown)",
    )
    parser.add_argument(
        "--fail-on-new",
        action="store_true",
        help="exit 1 on regressions: new failures, new errors or lost coverage",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.render.diff import render_diff_json, render_diff_markdown
    from policycheck.report.diff import diff_reports, is_regression

    changes = diff_reports(load_report(args.old), load_report(args.new))
    render = render_diff_json if args.format == "json" else render_diff_markdown
    print(render(changes), end="")
    return EXIT_FAIL if args.fail_on_new and is_regression(changes) else EXIT_PASS
