"""Command line: a thin layer over the library. Heavy imports (boto3, pydantic) happen
inside the commands so that ``--help`` stays fast."""

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from policycheck import __version__
from policycheck.errors import EXIT_ERROR, EXIT_FAIL, EXIT_INTERNAL, EXIT_PASS, EXIT_USAGE

if TYPE_CHECKING:
    from policycheck.controls import Catalog
    from policycheck.policy import Policy
    from policycheck.report import Report

#: 128 + the signal's number, as shells report a process a signal ended.
EXIT_SIGNAL_BASE = 128
EXIT_CODES_HELP = """\
exit codes (of the results that gate: --min-severity and above, not waived):
  0  every gating result passed (or --fail-on none)
  1  at least one gating result failed
  3  no failure, but at least one gating result is an error (a fact could not be
     read, the deadline was reached) or something selected was not assessed; with
     --fail-on fail these are reported but exit 0
  2  usage or policy error, nothing to assess, unreachable endpoint, missing
     credentials: nothing was checked and no report was written
  70 internal error (a bug): rerun with --verbose for the traceback
  130, 143, 129  interrupted (Ctrl-C, SIGTERM, SIGHUP): the previous report is intact
  141  the output pipe was closed (e.g. | head)
"""


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _shard(value: str) -> tuple[int, int]:
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError("expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(index), int(count)


def _service_caps(value: str) -> dict[str, int]:
    """``8`` (every service) or ``s3=4,dynamodb=8`` or both (``8,s3=4``)."""
    caps: dict[str, int] = {}
    for item in _csv(value):
        service, _, number = item.rpartition("=")
        if not number.isdigit() or int(number) < 1 or (service and not service.isalnum()):
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected N or SERVICE=N with N >= 1, e.g. 8,s3=4,dynamodb=8"
            )
        caps[service.lower() or "*"] = int(number)
    if not caps:
        raise argparse.ArgumentTypeError("expected N or SERVICE=N, e.g. s3=4,dynamodb=8")
    return caps


def _role_name(value: str) -> str:
    if not value or "/" in value or ":" in value:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected a role name (not an ARN), e.g. policycheck-readonly"
        )
    return value


def _endpoint(value: str) -> str:
    from policycheck.aws import endpoint_problem

    problem = endpoint_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _duration(value: str) -> float:
    from policycheck.deadline import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _repository(value: str) -> str:
    owner, _, name = value.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not owner or not name or not set(owner + name) <= allowed:
        raise argparse.ArgumentTypeError(f"{value!r}: expected OWNER/REPO, e.g. acme/platform")
    return value


def _formats(value: str) -> list[str]:
    known = ("json", "markdown", "csv", "junit", "sarif", "summary", "oscal")
    chosen = _csv(value)
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        given = unknown[0] if unknown else "(none)"
        raise argparse.ArgumentTypeError(
            f"unknown format {given!r}; choose from {', '.join(known)}"
        )
    return chosen


def _add_gate_options(command: argparse.ArgumentParser, default: str) -> None:
    """--fail-on and --min-severity: which results decide the exit code."""
    command.add_argument(
        "--fail-on",
        choices=("error", "fail", "none"),
        default=default,
        help="what makes the exit code non-zero: error (failures exit 1; errors, anything "
        "not assessed and a reached deadline exit 3), fail (failures exit 1; read errors "
        "are only reported), none (0 once the command completed) "
        f"(default: {default})",
    )
    command.add_argument(
        "--min-severity",
        choices=("critical", "high", "medium", "low"),
        default="low",
        help="only results of this severity or above decide the exit code (default: low)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policycheck",
        description=(
            "Verify the backup and disaster-recovery policy (controls SC.10.*) against live "
            "AWS resources, read-only, and report control by control what holds."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"policycheck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="log every AWS API call to stderr, and print the traceback of an internal error",
    )
    policy_option = argparse.ArgumentParser(add_help=False)
    policy_option.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="FILE",
        help="policy file (default: ./policy.yaml, else the policy shipped with policycheck); "
        "controls are read from the controls/ directory beside it",
    )
    output_options = argparse.ArgumentParser(add_help=False)
    output_options.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where the report files and SHA256SUMS are written (default: reports)",
    )
    output_options.add_argument(
        "--format",
        type=_formats,
        default=["json", "markdown"],
        metavar="LIST",
        help="comma-separated report formats: json, markdown, csv (control matrix), junit, "
        "sarif (code scanning), summary (for $GITHUB_STEP_SUMMARY, cut under 1 MiB), oscal "
        "(NIST OSCAL assessment-results) (default: json,markdown)",
    )
    selection_options = argparse.ArgumentParser(add_help=False)
    selection_options.add_argument(
        "--env",
        type=_csv,
        default=[],
        metavar="LIST",
        help="comma-separated environments (default: all in the policy)",
    )
    selection_options.add_argument(
        "--checks",
        type=_csv,
        default=[],
        metavar="LIST",
        help="only these check ids (default: every check bound in the policy); the other "
        "controls are reported as not selected",
    )
    selection_options.add_argument(
        "--controls",
        type=_csv,
        default=[],
        metavar="LIST",
        help="only the checks of these control ids; the other controls are reported as not "
        "selected",
    )
    audit_options = argparse.ArgumentParser(add_help=False, parents=[output_options])
    audit_options.add_argument(
        "--max-workers",
        type=_positive,
        default=16,
        metavar="N",
        help="API calls in flight at once (default: 16)",
    )
    audit_options.add_argument(
        "--deadline",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="stop calling AWS this long after the start and write the report with what "
        "was read: facts not read by then are errors and the run exits 3, e.g. 90s, 25m, "
        "1h30m (default: the policy's run.deadline, 25m)",
    )

    run = commands.add_parser(
        "run",
        parents=[common, policy_option, audit_options, selection_options],
        help="audit live AWS resources against the policy",
        description="Audit live AWS resources against the policy, read-only; write reports and "
        "print a summary table.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--max-per-service",
        type=_service_caps,
        default=None,
        metavar="CAPS",
        help="at most this many calls in flight per service in one account and region, so "
        "that a service's rate limit is not hit while others keep the workers busy: N for "
        "every service, or SERVICE=N pairs, e.g. 8 or s3=8,dynamodb=4 (default: only "
        "--max-workers)",
    )
    run.add_argument(
        "--processes",
        type=_positive,
        default=None,
        metavar="N",
        help="processes fetching facts, sharing --max-workers and the per-service caps: one "
        "Python process makes about a thousand API calls a second, so large runs use every "
        "core (default: one per 1,500 facts, at most one per core; 1 where fork is missing)",
    )
    run.add_argument(
        "--org",
        action="store_true",
        help="audit every active account of the AWS Organization (ListAccounts with the "
        "current credentials, e.g. of the management or a delegated administrator account) "
        "instead of the accounts the policy names; an environment with org_account_tags "
        "only covers accounts with those tags. Needs --role-name",
    )
    run.add_argument(
        "--role-name",
        type=_role_name,
        default=None,
        metavar="NAME",
        help="with --org: the role assumed in each account (arn:aws:iam::ACCOUNT:role/NAME). "
        "An account where it cannot be assumed has error results; the others still run",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="only shard I of N (a stable hash of each environment, or of environment and "
        "account where the account is known before the run, as with --org), to spread a "
        "large policy or organisation over N CI jobs whose reports `merge` combines",
    )
    _add_gate_options(run, default="error")
    run.add_argument(
        "--endpoint-url",
        type=_endpoint,
        default=None,
        metavar="URL",
        help="send every API call to this endpoint, e.g. a moto server or LocalStack "
        "(default: $AWS_ENDPOINT_URL, else AWS)",
    )

    commands.add_parser(
        "demo",
        parents=[common, policy_option, audit_options],
        help="run the full audit against a simulated account (moto) and write the reports",
        description="Start moto on loopback, seed it from the policy (mostly compliant, with "
        "a few deliberate violations), run the full audit, write the reports and print the "
        "summary. Exits 0 when the demo ran. Never calls AWS.",
    )
    commands.add_parser(
        "validate",
        parents=[common, policy_option, selection_options],
        help="validate the policy and the controls (schemas and cross-references)",
        description="Validate the policy and the control files: types, unknown keys, unknown "
        "check ids and resources, check parameters, the drill evidence directory; and that "
        "the selection (--env, --checks, --controls, default: everything) can be assessed. "
        "Warns about regions botocore does not know, controls that can never be assessed and "
        "waivers that expire soon. Exits 0 when valid, 2 otherwise.",
    )
    commands.add_parser(
        "controls",
        parents=[common, policy_option],
        help="list the control catalog and the checks that evidence each control",
    )
    merge = commands.add_parser(
        "merge",
        parents=[common, output_options],
        help="merge reports made separately (per CI job or account) into one",
        description="Merge report.json files into one report and control matrix, written "
        "like run's. Refuses reports made from different policy or control files unless "
        "--allow-mixed. A shard of an I/N series or an environment of the policy that no "
        "report covers is recorded as not assessed, and merge exits 3 (see --allow-missing).",
    )
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT")
    merge.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge reports made from different policy or control files",
    )
    _add_gate_options(merge, default="none")
    merge.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 although a shard (--shard I/N) or an environment of the policy has no "
        "report; it is still recorded in the merged report as not assessed (default: exit 3)",
    )
    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="what changed between two reports (new and resolved failures, new errors, waivers)",
        description="Compare two report.json files. Results OLD has and NEW lacks are "
        "'not compared', never 'resolved'. Exit 0, or with --fail-on-new exit 1 when there "
        "are new failures, new errors, or NEW assesses less than OLD (an environment, account "
        "or check missing).",
    )
    diff.add_argument("old", type=Path, help="the earlier report.json")
    diff.add_argument("new", type=Path, help="the later report.json")
    diff.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="output on stdout (default: markdown)",
    )
    diff.add_argument(
        "--fail-on-new",
        action="store_true",
        help="exit 1 on regressions: new failures, new errors or lost coverage",
    )
    iam_policy = commands.add_parser(
        "iam-policy",
        parents=[common, policy_option],
        help="print the read-only IAM policy the checks need",
        description="Print the IAM policy (JSON) granting exactly the read-only actions the "
        "selected checks call: by default the checks bound in the policy.",
    )
    iam_policy.add_argument(
        "--checks",
        type=_csv,
        default=[],
        metavar="LIST",
        help="these check ids instead of the policy's bound checks",
    )
    iam_policy.add_argument(
        "--org-role",
        type=_role_name,
        default=None,
        metavar="NAME",
        help="instead, the policy for the credentials that run `run --org --role-name NAME`: "
        "list the organisation's accounts and assume NAME in each",
    )
    iam_policy.add_argument(
        "--trust",
        choices=("github",),
        default=None,
        help="instead, the trust policy of the role: `github` lets GitHub Actions assume it "
        "by OIDC (needs --repo)",
    )
    iam_policy.add_argument(
        "--repo",
        type=_repository,
        default=None,
        metavar="OWNER/REPO",
        help="with --trust github: the repository whose workflows may assume the role",
    )
    iam_policy.add_argument(
        "--environment",
        default=None,
        metavar="NAME",
        help="with --trust github: only jobs in this GitHub environment (default: jobs on "
        "the default branch main); name it like the policy's environment",
    )
    iam_policy.add_argument(
        "--account-id",
        default=None,
        metavar="ID",
        help="with --trust github: the account of the role and its OIDC provider (default: "
        "the policy environment's account_id)",
    )
    environments = commands.add_parser(
        "environments",
        parents=[common, policy_option],
        help="list the policy's environments with their regions, accounts and roles",
        description="List the environments of the policy with their regions, accounts and "
        "roles, so that a CI workflow builds its matrix from policy.yaml instead of "
        "repeating it. --json prints a list of objects: name, region (the first), regions, "
        "account_id, role_arn (those of the first account), accounts.",
    )
    environments.add_argument("--json", action="store_true", help="print JSON")
    render = commands.add_parser(
        "render",
        parents=[common, output_options],
        help="regenerate report views from a saved report.json (no AWS call)",
        description="Re-render a saved report.json into any format, so that an auditor can "
        "re-derive the matrix from the evidence. Writes SHA256SUMS over the files.",
    )
    render.add_argument("report", type=Path, help="a report.json written by run or demo")
    commands.add_parser(
        "drills",
        parents=[common, policy_option],
        help="print the recovery-testing table (§5) filled in from the drill evidence",
        description="Print, as Markdown, the policy's recovery-testing table filled in from "
        "the evidence records: last tested, outcome, evidence location, next due. Reads the "
        "evidence directory only; no AWS call.",
    )
    schema = commands.add_parser(
        "schema",
        parents=[common],
        help="print a JSON Schema: report, policy, control or evidence (a drill record)",
    )
    schema.add_argument("kind", choices=("report", "policy", "control", "evidence"))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (what CI runners and `timeout` send), handled like Ctrl-C: work
    stops, fetch processes are stopped, temporary files are removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from policycheck.errors import InputError

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"policycheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(
            f"policycheck: interrupted ({signal.Signals(signum).name}); no new report written",
            file=sys.stderr,
        )
        return EXIT_SIGNAL_BASE + signum
    except BrokenPipeError:  # `policycheck ... | head`: the reader has gone
        _silence_stdout()
        return EXIT_SIGNAL_BASE + signal.SIGPIPE
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        print(
            f"policycheck: internal error: {type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + ("" if args.verbose else " (rerun with --verbose for the traceback)"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _load(args: argparse.Namespace) -> "tuple[Policy, Catalog]":
    from policycheck.controls import load_catalog
    from policycheck.paths import controls_dir_for, default_policy_path
    from policycheck.policy import load_policy

    path = args.policy or default_policy_path()
    policy = load_policy(path)
    return policy, load_catalog(controls_dir_for(path))


def _progress() -> "object | None":
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rcollecting facts {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _configure_logging(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(message)s")
        logging.getLogger("policycheck").setLevel(logging.INFO)


def _finish(report: "Report", args: argparse.Namespace) -> int:
    from policycheck.gating import exit_code
    from policycheck.render import write_reports
    from policycheck.summary import summary_table

    written = write_reports(report, args.output_dir, args.format)
    print(summary_table(report))
    print("reports: " + ", ".join(str(path) for path in written))
    return exit_code(
        report, getattr(args, "fail_on", "error"), getattr(args, "min_severity", "low")
    )


def cmd_run(args: argparse.Namespace) -> int:
    from policycheck.errors import InputError
    from policycheck.runner import RunOptions, run_audit, select

    _configure_logging(args.verbose)
    policy, catalog = _load(args)
    if args.org != bool(args.role_name):
        raise InputError("--org and --role-name go together: --org --role-name NAME")
    _check_service_caps(args.max_per_service)
    selection = select(policy, catalog, args.env, args.checks, args.controls, args.shard)
    _prepare_output(args.output_dir)
    _warn_about_regions(policy)
    options = RunOptions(
        endpoint_url=args.endpoint_url,
        max_workers=args.max_workers,
        service_caps=args.max_per_service,
        org_role=args.role_name,
        processes=args.processes,
        progress=_progress(),
        deadline_seconds=args.deadline,
    )
    return _finish(run_audit(policy, catalog, selection, options), args)


def _check_service_caps(caps: "dict[str, int] | None") -> None:
    """--max-per-service names services the checks call (by their IAM prefix)."""
    from policycheck.collect import service_of
    from policycheck.errors import InputError
    from policycheck.facts import all_facts

    known = sorted({service_of(spec) for spec in all_facts().values()} - {"local"})
    unknown = [service for service in caps or {} if service != "*" and service not in known]
    if unknown:
        raise InputError(
            f"--max-per-service: unknown service {unknown[0]!r}; the checks call "
            + ", ".join(known)
        )


def _prepare_output(output_dir: Path, inputs: "list[Path] | None" = None) -> None:
    """Refuse an output directory that cannot be written before anything is collected,
    and one whose report set would replace a report this command reads."""
    from policycheck.errors import InputError
    from policycheck.publish import check_output_dir
    from policycheck.render import CHECKSUMS, FORMATS

    check_output_dir(output_dir)
    replaced = {f.filename for f in FORMATS.values()} | {CHECKSUMS}
    for path in inputs or []:
        if path.name in replaced and path.resolve().parent == output_dir.resolve():
            raise InputError(
                f"{path}: is in --output-dir {output_dir}, whose report set this command "
                "replaces; write to another directory"
            )


def _warn_about_regions(policy: "Policy") -> None:
    from policycheck.regions import region_warnings

    for warning in region_warnings(policy):
        print(f"warning: {warning}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from policycheck.demo import run_demo

    _configure_logging(args.verbose)
    policy, catalog = _load(args)
    _prepare_output(args.output_dir)
    print(f"demo: policy {policy.path}", file=sys.stderr)
    report, deviations = run_demo(
        policy,
        catalog,
        max_workers=args.max_workers,
        progress=_progress(),
        deadline_seconds=args.deadline,
    )
    print("demo: simulated account (moto on loopback); deliberate violations:", file=sys.stderr)
    for deviation in deviations:
        print(
            f"  - {deviation.environment}: {deviation.check_id} on {deviation.resource_name}",
            file=sys.stderr,
        )
    _finish(report, args)
    return EXIT_PASS


def cmd_validate(args: argparse.Namespace) -> int:
    from datetime import date

    from policycheck.drills import DRILL_CHECK
    from policycheck.errors import InputError
    from policycheck.evidence import evidence_dir_problems
    from policycheck.runner import nothing_to_assess, plan, select, why_no_result
    from policycheck.waivers import lint_waivers

    policy, catalog = _load(args)
    selection = select(policy, catalog, args.env, args.checks, args.controls)
    targets = plan(policy, catalog, selection)
    if not targets:
        raise InputError(nothing_to_assess(policy, catalog, selection))
    if any(b.check.id == DRILL_CHECK for b in policy.bindings):
        problems = evidence_dir_problems(policy.evidence_dir, policy.repository)
        errors = [p.message for p in problems if p.severity == "error"]
        if errors:
            raise InputError("\n".join(f"{policy.path}: evidence_dir: {e}" for e in errors))
        for problem in problems:
            print(f"warning: {policy.path}: evidence_dir: {problem.message}", file=sys.stderr)
    never = {
        f"{control.id}: {why.reason}; it will be reported NOT ASSESSED"
        for control in catalog.controls
        for environment in selection.environments
        if (why := why_no_result(policy, control, selection, environment, True)).status
        == "not_assessed"
    }
    for warning in sorted(never):
        print(f"warning: {warning}", file=sys.stderr)
    _warn_about_regions(policy)
    print(
        f"{policy.path}: valid — {len(policy.environments)} environment(s), "
        f"{len(policy.document.resources)} resource group(s), {len(policy.bindings)} check "
        f"binding(s), {len(targets)} result(s) per run"
    )
    print(f"{catalog.directory}: valid — {len(catalog.controls)} control(s)")
    waivers = policy.document.waivers
    if waivers:
        print(f"{policy.path}: {len(waivers)} waiver(s)")
    for warning in lint_waivers(waivers, date.today()):
        print(f"warning: {policy.path}: {warning}", file=sys.stderr)
    return EXIT_PASS


def cmd_controls(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    _, catalog = _load(args)
    rows = [
        [control.id, control.title, "\n".join(control.check_ids) or "(none: not assessed)"]
        for control in catalog.controls
    ]
    print(tabulate(rows, headers=["Control", "Title", "Checks"], tablefmt="simple"))
    return EXIT_PASS


def load_report(path: Path) -> "Report":
    """A saved report, or InputError naming the file and what is wrong."""
    from pydantic import ValidationError

    from policycheck.errors import InputError
    from policycheck.report import Report, upgraded
    from policycheck.validation import describe_errors

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return upgraded(Report.model_validate_json(text))
    except ValidationError as exc:
        raise InputError("\n".join(describe_errors(path, exc)[:5])) from None


def cmd_merge(args: argparse.Namespace) -> int:
    from policycheck.gating import exit_code
    from policycheck.merge import merge_reports
    from policycheck.render import write_reports

    _prepare_output(args.output_dir, args.reports)
    reports = [load_report(path) for path in args.reports]
    merged = merge_reports(reports, [str(p) for p in args.reports], args.allow_mixed)
    written = write_reports(merged, args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    for gap in merged.run.gaps:
        print(f"not assessed: {gap.environment}: {gap.reason}", file=sys.stderr)
    code = exit_code(merged, args.fail_on, args.min_severity)
    if code == EXIT_PASS and merged.run.gaps and not args.allow_missing:
        return EXIT_ERROR
    return code


def cmd_diff(args: argparse.Namespace) -> int:
    from policycheck.diff import diff_reports, is_regression, render_diff_json, render_diff_markdown

    changes = diff_reports(load_report(args.old), load_report(args.new))
    render = render_diff_json if args.format == "json" else render_diff_markdown
    print(render(changes), end="")
    return EXIT_FAIL if args.fail_on_new and is_regression(changes) else EXIT_PASS


def cmd_render(args: argparse.Namespace) -> int:
    from policycheck.render import write_reports

    _prepare_output(args.output_dir, [args.report])
    written = write_reports(load_report(args.report), args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    return EXIT_PASS


def cmd_iam_policy(args: argparse.Namespace) -> int:
    import json

    from policycheck.errors import InputError
    from policycheck.iampolicy import discovery_actions, org_policy, readonly_policy
    from policycheck.registry import all_checks

    if args.trust:
        document = _trust_policy(args)
    elif args.org_role:
        document = org_policy(args.org_role)
    elif args.checks:
        unknown = [c for c in args.checks if c not in all_checks()]
        if unknown:
            raise InputError(f"--checks: unknown check {unknown[0]!r}")
        document = readonly_policy(args.checks)
    else:
        policy, _ = _load(args)
        document = readonly_policy([b.check.id for b in policy.bindings], discovery_actions(policy))
    print(json.dumps(document, indent=2))
    return EXIT_PASS


def _trust_policy(args: argparse.Namespace) -> "dict[str, object]":
    from policycheck.errors import InputError
    from policycheck.iampolicy import github_trust_policy

    if not args.repo:
        raise InputError("--trust github needs --repo OWNER/REPO")
    account = args.account_id
    if account is None and args.environment:
        policy, _ = _load(args)
        configured = policy.environments.get(args.environment)
        accounts = [a for a in (configured.account_configs if configured else []) if a]
        account = accounts[0].account_id if len(accounts) == 1 else None
    if not (account and account.isdigit() and len(account) == 12):
        raise InputError(
            "--trust github: give --account-id (12 digits), or --environment naming a policy "
            "environment with one account_id"
        )
    return github_trust_policy(account, args.repo, args.environment)


def cmd_environments(args: argparse.Namespace) -> int:
    import json

    from tabulate import tabulate

    policy, _ = _load(args)
    listed = []
    for name, environment in policy.environments.items():
        accounts = [
            {"account_id": a.account_id, "role_arn": a.role_arn}
            for a in environment.account_configs
            if a is not None
        ]
        listed.append(
            {
                "name": name,
                "region": environment.region_names[0],
                "regions": environment.region_names,
                "account_id": accounts[0]["account_id"] if accounts else None,
                "role_arn": accounts[0]["role_arn"] if accounts else None,
                "accounts": accounts,
            }
        )
    if args.json:
        print(json.dumps(listed))
    else:
        rows = [
            [
                e["name"],
                ", ".join(e["regions"]),
                ", ".join(a["account_id"] for a in e["accounts"]) or "(the credentials' account)",
            ]
            for e in listed
        ]
        print(tabulate(rows, headers=["Environment", "Regions", "Accounts"], tablefmt="simple"))
    return EXIT_PASS


def cmd_drills(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from policycheck.drills import drills_table

    policy, _ = _load(args)
    print(drills_table(policy, datetime.now(UTC).date()))
    return EXIT_PASS


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from policycheck.schemas import build_schema

    print(json.dumps(build_schema(args.kind), indent=2))
    return EXIT_PASS


COMMANDS = {
    "run": cmd_run,
    "demo": cmd_demo,
    "validate": cmd_validate,
    "controls": cmd_controls,
    "render": cmd_render,
    "merge": cmd_merge,
    "diff": cmd_diff,
    "iam-policy": cmd_iam_policy,
    "environments": cmd_environments,
    "drills": cmd_drills,
    "schema": cmd_schema,
}
