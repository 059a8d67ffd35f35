"""`policycheck merge`: reports made separately (per CI job or account) into one."""

import argparse
import sys
from typing import Any

from policycheck.cli.options import (
    Parents,
    add_gate_options,
    decide,
    load_report,
    prepare_output,
    report_location,
)
from policycheck.errors import EXIT_ERROR, EXIT_PASS


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "merge",
        parents=[parents.offline, parents.output],
        help="merge reports made separately (per CI job or account) into one",
        description="Merge report.json files into one report and control matrix, written "
        "like run's. Refuses reports made from different policy or control files unless "
        "--allow-mixed. A shard of an I/N series or an environment of the policy that no "
        "report covers is recorded as not assessed, and merge exits 3 (see --allow-missing).",
    )
    parser.add_argument(
        "reports",
        type=report_location,
        nargs="+",
        metavar="REPORT",
        help="report.json files to merge (of run, demo, plan, or an earlier merge), or "
        "reports in the evidence archive (s3://BUCKET/KEY)",
    )
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge reports made from different policy or control files",
    )
    add_gate_options(parser, default="none")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 although a shard (--shard I/N) or an environment of the policy has no "
        "report; it is still recorded in the merged report as not assessed (default: exit 3)",
    )
    parser.set_defaults(execute=execute)


def execute(args: argparse.Namespace) -> int:
    from policycheck.publish import write_reports
    from policycheck.report.gating import exit_code
    from policycheck.report.merge import merge_reports

    prepare_output(args.output_dir, args.reports)
    reports = [load_report(path) for path in args.reports]
    merged = merge_reports(reports, [str(p) for p in args.reports], args.allow_mixed)
    code = exit_code(merged, args.fail_on, args.min_severity)
    if code == EXIT_PASS and merged.run.gaps and not args.allow_missing:
        code = EXIT_ERROR
    decide(args, code)
    written = write_reports(merged, args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    for gap in merged.run.gaps:
        print(f"not assessed: {gap.environment}: {gap.reason}", file=sys.stderr)
    return code
