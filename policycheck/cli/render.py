"""`policycheck render REPORT`: any view of a saved report, without calling AWS."""

import argparse
from typing import Any

from policycheck.cli.options import Parents, decide, load_report, prepare_output, report_location
from policycheck.errors import EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "render",
        parents=[parents.offline, parents.output],
        help="regenerate report views from a saved report.json (no AWS call)",
        description="Re-render a saved report.json into any format, so that an auditor can "
        "re-derive the matrix from the evidence. Writes SHA256SUMS over the files.",
    )
    parser.add_argument(
        "report",
        type=report_location,
        help="a report.json written by run, demo, plan or merge, or one in the evidence "
        "archive (s3://BUCKET/KEY)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.publish import write_reports

    prepare_output(args.output_dir, [args.report])
    report = load_report(args.report)
    code = decide(args, EXIT_PASS)
    written = write_reports(report, args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    return code
