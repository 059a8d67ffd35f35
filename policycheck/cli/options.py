"""What several commands share: argument types, the option groups (parent parsers), and
the steps every command takes (load the policy, check the output directory, write the
reports and decide the exit code)."""

import argparse
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policycheck.policy.controls import Catalog
    from policycheck.policy.load import Policy
    from policycheck.report.model import Report

EXIT_CODES_HELP = """\
exit codes (of the results that gate: --min-severity and above, not waived):
  0  every gating result passed (or --fail-on none)
  1  at least one gating result failed
  3  no failure, but something selected was not assessed or the deadline was reached,
     or (unless --fail-on fail) a gating result is an error (a fact could not be read)
  2  usage or policy error, nothing to assess, unreachable endpoint, missing
     credentials: nothing was checked and no report was written
  70 internal error (a bug): rerun with --verbose for the traceback
  130, 143, 129  interrupted (Ctrl-C, SIGTERM, SIGHUP): the previous report is intact
  141  the output pipe was closed (e.g. | head)
"""


def csv_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def role_name(value: str) -> str:
    if not value or "/" in value or ":" in value:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected a role name (not an ARN), e.g. policycheck-readonly"
        )
    return value


def duration(value: str) -> float:
    from policycheck.deadline import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_list(offered: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    """An argument type: a comma-separated list of some of the names ``offered`` gives
    (asked when an option is given, so that --help need not import the renderers)."""

    def parse(value: str) -> list[str]:
        names = list(offered())
        chosen = csv_list(value)
        unknown = [name for name in chosen if name not in names]
        if unknown or not chosen:
            given = unknown[0] if unknown else "(none)"
            raise argparse.ArgumentTypeError(
                f"unknown format {given!r}; choose from {', '.join(names)}"
            )
        return chosen

    return parse


def _report_formats() -> Iterable[str]:
    from policycheck.render import FORMATS

    return FORMATS


formats = format_list(_report_formats)


@dataclass(frozen=True)
class Parents:
    """Option groups commands take as argparse parents."""

    #: --verbose for the commands that call AWS APIs (run; demo, against its simulated account).
    common: argparse.ArgumentParser
    #: --verbose for the commands that call no AWS API (they read files only).
    offline: argparse.ArgumentParser
    policy: argparse.ArgumentParser
    output: argparse.ArgumentParser
    selection: argparse.ArgumentParser
    audit: argparse.ArgumentParser
    #: --checks and --controls (selection without --env).
    filters: argparse.ArgumentParser


def _verbose(meaning: str) -> argparse.ArgumentParser:
    """An option group of --verbose (-v), saying what it shows."""
    group = argparse.ArgumentParser(add_help=False)
    group.add_argument("--verbose", "-v", action="store_true", help=meaning)
    return group


def parents() -> Parents:
    """Build the option groups once per parser."""
    common = _verbose(
        "log every AWS API call to stderr, and print the traceback of an internal error"
    )
    offline = _verbose("print the traceback of an internal error (this command calls no AWS API)")
    policy = argparse.ArgumentParser(add_help=False)
    policy.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="FILE",
        help="policy file (default: ./policy.yaml; only `demo` falls back to the policy "
        "shipped with policycheck); controls are read from the controls/ directory beside it",
    )
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where the report files and SHA256SUMS are written (default: reports)",
    )
    output.add_argument(
        "--format",
        type=formats,
        default=["json", "markdown"],
        metavar="LIST",
        help="comma-separated report formats: json, markdown, csv (control matrix), junit, "
        "sarif (code scanning), summary (for $GITHUB_STEP_SUMMARY, cut under 1 MiB), oscal "
        "(NIST OSCAL assessment results, with the assessment plan and the catalog they "
        "refer to), html (one self-contained page for auditors: "
        "filters, print, evidence) (default: json,markdown)",
    )
    filters = _filters()
    return Parents(common, offline, policy, output, _selection(filters), _audit(output), filters)


def _selection(filters: argparse.ArgumentParser) -> argparse.ArgumentParser:
    selection = argparse.ArgumentParser(add_help=False, parents=[filters])
    selection.add_argument(
        "--env",
        type=csv_list,
        default=[],
        metavar="LIST",
        help="comma-separated environments (default: all in the policy)",
    )
    return selection


def _filters() -> argparse.ArgumentParser:
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "--checks",
        type=csv_list,
        default=[],
        metavar="LIST",
        help="only these check ids (default: every check bound in the policy); the other "
        "controls are reported as not selected",
    )
    selection.add_argument(
        "--controls",
        type=csv_list,
        default=[],
        metavar="LIST",
        help="only the checks of these control ids; the other controls are reported as not "
        "selected",
    )
    return selection


def _audit(output: argparse.ArgumentParser) -> argparse.ArgumentParser:
    audit = argparse.ArgumentParser(add_help=False, parents=[output])
    audit.add_argument(
        "--max-workers",
        type=positive,
        default=16,
        metavar="N",
        help="API calls in flight at once (default: 16)",
    )
    audit.add_argument(
        "--deadline",
        type=duration,
        default=None,
        metavar="DURATION",
        help="stop calling AWS this long after the start and write the report with what "
        "was read: facts not read by then are errors and the run exits 3, e.g. 90s, 25m, "
        "1h30m (default: the policy's run.deadline, 25m)",
    )
    return audit


def add_gate_options(
    command: argparse.ArgumentParser, default: str, fail_on_help: str | None = None
) -> None:
    """--fail-on and --min-severity: which results decide the exit code (``fail_on_help``
    for a command whose statuses gate otherwise than run's)."""
    explained = fail_on_help or (
        "what makes the exit code non-zero: error (failures exit 1; errors, anything "
        "not assessed and a reached deadline exit 3), fail (failures exit 1; read errors "
        "are only reported), none (0 once the command completed)"
    )
    command.add_argument(
        "--fail-on",
        choices=("error", "fail", "none"),
        default=default,
        help=f"{explained} (default: {default})",
    )
    command.add_argument(
        "--min-severity",
        choices=("critical", "high", "medium", "low"),
        default="low",
        help="only results of this severity or above decide the exit code (default: low)",
    )


def endpoint(value: str) -> str:
    """An argument type: a URL an API call can be sent to."""
    from policycheck.engine.aws import endpoint_problem

    problem = endpoint_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def add_endpoint_option(command: argparse.ArgumentParser, what: str) -> None:
    """--endpoint-url, for a command that calls AWS: ``what`` it sends there."""
    command.add_argument(
        "--endpoint-url",
        type=endpoint,
        default=None,
        metavar="URL",
        help=f"{what} (default: $AWS_ENDPOINT_URL, else AWS)",
    )


def add_baseline_option(command: argparse.ArgumentParser) -> None:
    """--fail-on-new REPORT: only results new since an earlier report decide the exit code."""
    command.add_argument(
        "--fail-on-new",
        type=Path,
        default=None,
        metavar="REPORT",
        help="an earlier report.json (the live audit's, or the previous plan's): only results "
        "whose status differs from it decide the exit code, so a failure already known does "
        "not block (default: every result)",
    )


def load(args: argparse.Namespace, shipped: bool = False) -> "tuple[Policy, Catalog]":
    """The policy (--policy, else ./policy.yaml, else InputError; the demo, ``shipped``,
    falls back to the policy shipped with policycheck) and the controls beside it, both
    checked against one registry: the built-in checks and the policy's plugins."""
    from policycheck.errors import InputError
    from policycheck.paths import NO_POLICY_HERE, controls_dir_for, default_policy_path
    from policycheck.policy.controls import load_catalog
    from policycheck.policy.load import load_policy

    path = args.policy or default_policy_path(shipped)
    if path is None:
        raise InputError(NO_POLICY_HERE)
    policy = load_policy(path)
    return policy, load_catalog(controls_dir_for(path), policy.registry)


def announce_policy(policy: "Policy") -> None:
    """The first line of a command that judges: which policy file, and which version of it."""
    print(f"policy: {policy.path.resolve()} (sha256 {policy.sha256})", flush=True)


def progress() -> Callable[[int, int], None] | None:
    """Progress on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rcollecting facts {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def configure_logging(verbose: bool) -> None:
    """With --verbose, policycheck's log (every AWS call) goes to stderr; the root logger,
    which an embedding program owns, is left alone."""
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("policycheck")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def prepare_output(output_dir: Path, inputs: "list[Path | str] | None" = None) -> None:
    """Refuse an output directory that cannot be written before anything is collected,
    and one whose report set would replace a report this command reads."""
    from policycheck.errors import InputError
    from policycheck.publish import CHECKSUMS, check_output_dir
    from policycheck.render import MANAGED

    check_output_dir(output_dir)
    replaced = {*MANAGED, CHECKSUMS}
    for path in inputs or []:
        if (
            isinstance(path, Path)
            and path.name in replaced
            and path.resolve().parent == output_dir.resolve()
        ):
            raise InputError(
                f"{path}: is in --output-dir {output_dir}, whose report set this command "
                "replaces; write to another directory"
            )


#: The attribute of a command's arguments holding the exit code it decided before
#: publishing its reports: what it exits with if a signal ends it once they are published.
DECIDED_EXIT_CODE = "decided_exit_code"


def decide(args: argparse.Namespace, code: int) -> int:
    """Note the exit code a command decided, before it publishes its reports."""
    setattr(args, DECIDED_EXIT_CODE, code)
    return code


def finish(report: "Report", args: argparse.Namespace, baseline: "Report | None" = None) -> int:
    """Write the reports, print the summary table, and the exit code the gate says (only
    results new since ``baseline``, if given, gate)."""
    from policycheck.publish import write_reports
    from policycheck.render.terminal import summary_table
    from policycheck.report.gating import exit_code

    gate = exit_code(
        report, getattr(args, "fail_on", "error"), getattr(args, "min_severity", "low"), baseline
    )
    code = decide(args, gate)
    written = write_reports(report, args.output_dir, args.format)
    print(summary_table(report))
    print("reports: " + ", ".join(str(path) for path in written))
    return code


def report_location(value: str) -> Path | str:
    """A report file, or a report in the evidence archive (``s3://BUCKET/KEY``, kept as
    text: a Path would fold its ``//``)."""
    from policycheck.publish.archive import is_archive

    return value if is_archive(value) else Path(value)


def load_report(path: Path | str) -> "Report":
    """A saved report (of an older schema: re-derived), from a file or the archive, or
    InputError naming it and what is wrong; its results are read from disk one at a time."""
    from policycheck.publish.archive import read_located

    return read_located(path)


def warn_about_regions(policy: "Policy") -> None:
    from policycheck.policy.regions import region_warnings

    for warning in region_warnings(policy):
        print(f"warning: {warning}", file=sys.stderr)
