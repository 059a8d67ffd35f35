"""`policycheck history REPORT... | DIR`: how each control fared, day by day, over many
saved reports (say a year of nightly artifacts)."""

import argparse
import datetime
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policycheck.cli.options import Parents, decide, format_list, load_report
from policycheck.errors import EXIT_PASS, InputError

if TYPE_CHECKING:
    from policycheck.report.history import NamedReport


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a date, YYYY-MM-DD") from None


def add(commands: Any, parents: Parents) -> None:
    parser = commands.add_parser(
        "history",
        parents=[parents.offline],
        help="a timeline per control and environment over many saved reports",
        description="Read saved report.json files (files, or directories searched for "
        "report.json, e.g. downloaded nightly artifacts), one at a time, and write per "
        "control and environment the status of each day (the last report of a day that "
        "covers the environment counts), when each failure started and ended, the days out "
        "of compliance, and where the policy or a control file changed between two reports: "
        "history.json, history.md, and history.html (the latest report as report.html "
        "shows it, with a strip of days per control). Only reports of the live accounts "
        "count: reports judged on a Terraform plan or made by the demo are skipped, and "
        "listed with why. Writes SHA256SUMS over them. A file that is not a readable report "
        "exits 2.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="REPORT|DIR|s3://BUCKET/PREFIX",
        help="report.json files (any name), directories searched for report.json, or an "
        "evidence archive (`policycheck archive`), read one report at a time",
    )
    parser.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        default=Path("reports/history"),
        metavar="DIR",
        help="where history.* and SHA256SUMS are written; not a directory holding a report "
        "set (default: reports/history)",
    )
    parser.add_argument(
        "--format",
        type=format_list(_history_formats),
        metavar="LIST",
        help="comma-separated: json, markdown, html (default: all three)",
    )
    parser.add_argument(
        "--since",
        type=_day,
        metavar="YYYY-MM-DD",
        help="first day, e.g. 2026-01-31 (UTC; default: the first report's)",
    )
    parser.add_argument(
        "--until",
        type=_day,
        metavar="YYYY-MM-DD",
        help="last day, included (UTC; default: the last report's)",
    )
    parser.set_defaults(execute=execute)


def _history_formats() -> Iterable[str]:
    from policycheck.render import HISTORY_FORMATS

    return HISTORY_FORMATS


def _sources(inputs: list[str]) -> "Iterator[Path | NamedReport]":
    """The reports named, in order: files, directories' report.json, archives' reports."""
    from policycheck.publish.archive import ArchiveLocation, archived_sources, is_archive, s3_client
    from policycheck.report.history import report_files

    for given in inputs:
        if is_archive(given):
            yield from archived_sources(s3_client(), ArchiveLocation.parse(given))
        else:
            yield from report_files([Path(given)])


def execute(args: argparse.Namespace) -> int:
    from policycheck.publish import check_output_dir, publish_documents
    from policycheck.render import HISTORY_FORMATS, MANAGED, render_history
    from policycheck.report.history import Period, build_history

    if args.since and args.until and args.since > args.until:
        raise InputError(f"--since {args.since} is after --until {args.until}")
    check_output_dir(args.output_dir)
    holds_report = [name for name in MANAGED if (args.output_dir / name).exists()]
    if holds_report:
        raise InputError(
            f"--output-dir {args.output_dir}: holds a report set ({holds_report[0]}); history "
            "writes a set of its own, write it to another directory"
        )
    history = build_history(_sources(args.inputs), args.since, args.until)
    documents = render_history(Period(history, read=load_report), args.format or HISTORY_FORMATS)
    code = decide(args, EXIT_PASS)
    managed = [document.filename for document in HISTORY_FORMATS.values()]
    written = publish_documents(args.output_dir, documents, managed=managed)
    print("wrote: " + ", ".join(str(path) for path in written))
    return code
