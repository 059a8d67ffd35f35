"""Command line: a thin layer over the library. Heavy imports (boto3, pydantic) happen
inside the commands so that ``--help`` stays fast."""

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from policycheck import __version__

if TYPE_CHECKING:
    from policycheck.controls import Catalog
    from policycheck.policy import Policy
    from policycheck.report import Report

EXIT_PASS, EXIT_USAGE = 0, 2
EXIT_CODES_HELP = """\
exit codes (of the results that gate: --min-severity and above, not waived):
  0  every gating result passed (or --fail-on none)
  1  at least one gating result failed
  3  no failure, but at least one gating result is an error (a fact could not be
     read); with --fail-on fail errors are reported but exit 0
  2  usage or policy error, unreachable endpoint, missing credentials: nothing was
     checked and no report was written
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
    audit_options = argparse.ArgumentParser(add_help=False, parents=[output_options])
    audit_options.add_argument(
        "--max-workers",
        type=_positive,
        default=16,
        metavar="N",
        help="API calls in flight at once (default: 16)",
    )
    audit_options.add_argument(
        "--verbose", "-v", action="store_true", help="log every AWS API call to stderr"
    )

    run = commands.add_parser(
        "run",
        parents=[policy_option, audit_options],
        help="audit live AWS resources against the policy",
        description="Audit live AWS resources against the policy, read-only; write reports and "
        "print a summary table.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--env",
        type=_csv,
        default=[],
        metavar="LIST",
        help="comma-separated environments (default: all in the policy)",
    )
    run.add_argument(
        "--checks",
        type=_csv,
        default=[],
        metavar="LIST",
        help="only these check ids (default: every check bound in the policy)",
    )
    run.add_argument(
        "--controls",
        type=_csv,
        default=[],
        metavar="LIST",
        help="only the checks of these control ids; the report lists only them",
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
    run.add_argument(
        "--fail-on",
        choices=("error", "fail", "none"),
        default="error",
        help="what makes the exit code non-zero: error (default: failures exit 1, errors "
        "exit 3), fail (only failures), none (always 0 once the run completed)",
    )
    run.add_argument(
        "--min-severity",
        choices=("critical", "high", "medium", "low"),
        default="low",
        help="only results of this severity or above decide the exit code (default: low)",
    )
    run.add_argument(
        "--endpoint-url",
        default=None,
        metavar="URL",
        help="send every API call to this endpoint, e.g. a moto server or LocalStack "
        "(default: $AWS_ENDPOINT_URL, else AWS)",
    )

    commands.add_parser(
        "demo",
        parents=[policy_option, audit_options],
        help="run the full audit against a simulated account (moto) and write the reports",
        description="Start moto on loopback, seed it from the policy (mostly compliant, with "
        "a few deliberate violations), run the full audit, write the reports and print the "
        "summary. Exits 0 when the demo ran. Never calls AWS.",
    )
    commands.add_parser(
        "validate",
        parents=[policy_option],
        help="validate the policy and the controls (schemas and cross-references)",
        description="Validate the policy and the control files: types, unknown keys, unknown "
        "check ids and resources, check parameters. Exits 0 when valid, 2 otherwise.",
    )
    commands.add_parser(
        "controls",
        parents=[policy_option],
        help="list the control catalog and the checks that evidence each control",
    )
    merge = commands.add_parser(
        "merge",
        parents=[output_options],
        help="merge reports made separately (per CI job or account) into one",
        description="Merge report.json files into one report and control matrix, written "
        "like run's. Refuses reports made from different policy or control files unless "
        "--allow-mixed.",
    )
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT")
    merge.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge reports made from different policy or control files",
    )
    diff = commands.add_parser(
        "diff",
        help="what changed between two reports (new and resolved failures, new errors, waivers)",
        description="Compare two report.json files. Exit 0, or with --fail-on-new exit 1 "
        "when there are new failures or new errors.",
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
        help="exit 1 on regressions: new failures or new errors",
    )
    iam_policy = commands.add_parser(
        "iam-policy",
        parents=[policy_option],
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
    render = commands.add_parser(
        "render",
        parents=[output_options],
        help="regenerate report views from a saved report.json (no AWS call)",
        description="Re-render a saved report.json into any format, so that an auditor can "
        "re-derive the matrix from the evidence. Writes SHA256SUMS over the files.",
    )
    render.add_argument("report", type=Path, help="a report.json written by run or demo")
    commands.add_parser(
        "drills",
        parents=[policy_option],
        help="print the recovery-testing table (§5) filled in from the drill evidence",
        description="Print, as Markdown, the policy's recovery-testing table filled in from "
        "the evidence records: last tested, outcome, evidence location, next due. Reads the "
        "evidence directory only; no AWS call.",
    )
    schema = commands.add_parser(
        "schema",
        help="print a JSON Schema: report, policy, control or evidence (a drill record)",
    )
    schema.add_argument("kind", choices=("report", "policy", "control", "evidence"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from policycheck.errors import InputError

    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"policycheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("policycheck: interrupted; no report written", file=sys.stderr)
        return 130


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
    selection = select(policy, catalog, args.env, args.checks, args.controls, args.shard)
    options = RunOptions(
        endpoint_url=args.endpoint_url,
        max_workers=args.max_workers,
        service_caps=args.max_per_service,
        org_role=args.role_name,
        processes=args.processes,
        progress=_progress(),
    )
    return _finish(run_audit(policy, catalog, selection, options), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from policycheck.demo import run_demo

    _configure_logging(args.verbose)
    policy, catalog = _load(args)
    print(f"demo: policy {policy.path}", file=sys.stderr)
    report, deviations = run_demo(
        policy, catalog, max_workers=args.max_workers, progress=_progress()
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

    from policycheck.runner import plan, select
    from policycheck.waivers import lint_waivers

    policy, catalog = _load(args)
    targets = plan(policy, catalog, select(policy, catalog))
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
    from policycheck.report import Report
    from policycheck.validation import describe_errors

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return Report.model_validate_json(text)
    except ValidationError as exc:
        raise InputError("\n".join(describe_errors(path, exc)[:5])) from None


def cmd_merge(args: argparse.Namespace) -> int:
    from policycheck.merge import merge_reports
    from policycheck.render import write_reports

    reports = [load_report(path) for path in args.reports]
    merged = merge_reports(reports, [str(p) for p in args.reports], args.allow_mixed)
    written = write_reports(merged, args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    return EXIT_PASS


def cmd_diff(args: argparse.Namespace) -> int:
    from policycheck.diff import diff_reports, is_regression, render_diff_json, render_diff_markdown

    changes = diff_reports(load_report(args.old), load_report(args.new))
    render = render_diff_json if args.format == "json" else render_diff_markdown
    print(render(changes), end="")
    return 1 if args.fail_on_new and is_regression(changes) else EXIT_PASS


def cmd_render(args: argparse.Namespace) -> int:
    from policycheck.render import write_reports

    written = write_reports(load_report(args.report), args.output_dir, args.format)
    print("wrote: " + ", ".join(str(path) for path in written))
    return EXIT_PASS


def cmd_iam_policy(args: argparse.Namespace) -> int:
    import json

    from policycheck.errors import InputError
    from policycheck.iampolicy import discovery_actions, org_policy, readonly_policy
    from policycheck.registry import all_checks

    if args.org_role:
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
    "drills": cmd_drills,
    "schema": cmd_schema,
}
