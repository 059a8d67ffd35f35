"""The auditor's Markdown report: run metadata, control matrix, findings, passes."""

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from tabulate import tabulate

from policycheck.policy.crosswalk import FRAMEWORKS, CheckStatuses, evidence_for
from policycheck.render.characters import visible
from policycheck.report.model import (
    UNJUDGED,
    Report,
    Result,
    RunInfo,
    control_status_in,
    has_unjudged,
    report_environments,
    unassessed,
)
from policycheck.report.statuses import STATUS_LABEL


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github")


#: What GitHub-flavoured Markdown reads as markup within a line: raw HTML (<), entities
#: (&), links and images ([ ] !), autolinks (the : of ://, the . of www.), code spans (`),
#: emphasis (* _ ~), table cells (|), headings (#) and escapes (\).
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>&|~!#]|:(?=//)|(?<=www)\.")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def cell(value: object) -> str:
    """A value from AWS, the policy, a waiver or a report as Markdown text, in a table cell
    or a line: every markup character backslash-escaped (it shows as itself), line breaks
    as spaces, control characters (ANSI escapes) visible."""
    flat = _LINE_BREAKS.sub(" ", visible(str(value)))
    return _INLINE_MARKUP.sub(lambda found: "\\" + found.group(), flat)


def code(value: object) -> str:
    """A value as a code span nothing in it closes: fenced with one backtick more than
    its longest run of them; pipes escaped (GFM splits table cells on them even inside a
    code span), line breaks as spaces, control characters visible."""
    flat = _LINE_BREAKS.sub(" ", visible(str(value))).replace("|", "\\|")
    fence = "`" * (1 + max((len(run) for run in re.findall("`+", flat)), default=0))
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    return f"{fence}{padded}{fence}"


@dataclass(frozen=True)
class Style:
    """How the lines the views share set a literal (a check id, a resource) and a value:
    as Markdown (escaped) or as plain text (the terminal; the HTML escapes the line)."""

    code: Callable[[str], str]
    text: Callable[[str], str]


def _plain_code(value: str) -> str:
    return f"`{visible(value)}`"


PLAIN = Style(code=_plain_code, text=visible)
MARKDOWN = Style(code=code, text=cell)


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, sort_keys=True) + "\n```"


def _finding(result: Result) -> str:
    lines = [
        f"### {STATUS_LABEL[result.status]}: {code(result.check_id)} on "
        f"{code(result.resource.name)} ({cell(result.environment)})",
        "",
        f"- **Check:** {cell(result.title)}",
        f"- **Controls:** {cell(', '.join(result.control_ids) or '(none)')}",
        f"- **Severity:** {cell(result.severity)}",
        f"- **Resource:** {code(result.resource.arn)}",
        f"- **Finding:** {cell(result.message)}",
    ]
    if result.waiver:
        w = result.waiver
        state = "expired on" if w.expired else "waived until"
        lines.append(
            f"- **Waiver:** {state} {cell(w.expires)} — {cell(w.justification)} "
            f"(owner {cell(w.owner)}, ticket {cell(w.ticket)})"
        )
    if result.evidence:
        lines.append(f"- **Evidence SHA-256:** {code(result.evidence.sha256)}")
    if result.error:
        lines.append(f"- **AWS error:** {code(result.error.code)}: {cell(result.error.message)}")
    else:
        lines += [
            "",
            "Observed:",
            "",
            _json_block(result.observed),
            "",
            "Expected:",
            "",
            _json_block(result.expected),
        ]
    lines += ["", f"**Remediation:** {cell(result.remediation)}", ""]
    return "\n".join(lines)


CONTROL_HEADERS = ["Control", "Title", "Status", "Pass", "Fail", "Error"]
#: Columns a report judged on a plan adds to the control matrix.
PLAN_HEADERS = ["Not in plan", "Not judgeable"]


def on_plan(report: Report) -> bool:
    """Whether the report judged Terraform plans (or merges such reports)."""
    return bool(report.run.sources) or has_unjudged(report)


def control_headers(report: Report) -> list[str]:
    """The control matrix's columns (see control_rows)."""
    return CONTROL_HEADERS + (PLAN_HEADERS if on_plan(report) else [])


def control_rows(report: Report, style: Style = PLAIN) -> list[list[Any]]:
    """The control matrix: one row per control with its status and counts (and, on a
    plan, how many of its results the plan could not judge)."""
    plan = on_plan(report)
    return [
        [
            style.text(c.id),
            style.text(c.title),
            STATUS_LABEL[c.status],
            c.counts.pass_,
            c.counts.fail,
            c.counts.error,
        ]
        + ([c.counts.not_in_plan, c.counts.not_assessed] if plan else [])
        for c in report.controls
    ]


#: Said first when the results not in the plan are this many times those judged.
NEARLY_ALL = 4


def overall(report: Report, waived: bool = False) -> tuple[str, str]:
    """The verdict and the result counts behind it (the waived ones when there are some,
    or ``waived`` asks for them); on a plan, also how much of it the plan could judge:
    ("PASS on the plan", "40 judged (40 passed, 0 failed, 0 errors), 26 not in plan, 16
    not judgeable from a plan"), said first when nearly all are not in the plan."""
    counts = report.summary.results
    label = STATUS_LABEL[report.summary.status]
    tally = f"{counts.pass_} passed, {counts.fail} failed, {counts.error} errors" + (
        f", {counts.waived} waived" if counts.waived or waived else ""
    )
    if not on_plan(report):
        return label, f"{tally} in {counts.total} results"
    judged = counts.total - counts.not_in_plan - counts.not_assessed
    # judged on the plans' resources (the others: on the platform repository)
    on_plans = sum(r.plan is not None for r in report.results)
    mostly_missing = (
        f"NEARLY ALL NOT IN THE PLAN: {counts.not_in_plan} of the {counts.total} results name "
        "resources the plan neither has nor creates; "
        if on_plans * NEARLY_ALL <= counts.not_in_plan
        else ""
    )
    return (
        f"{label} on the plan",
        f"{mostly_missing}{judged} judged ({tally}), {counts.not_in_plan} not in plan, "
        f"{counts.not_assessed} not judgeable from a plan",
    )


def plan_change_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What the plan does to each verdict it changes, in a sentence per check: the plan
    breaks a check that passes today, fixes one, deletes or replaces a resource (said
    even when the verdict stays), makes a value unknown until apply, or creates a
    resource that would fail."""
    if not on_plan(report):
        return []
    lines = []
    for r in report.results:
        change = r.plan
        if change is None or r.status not in ("fail", "error", "pass"):
            continue
        destroys = change.action in ("delete", "replace")
        if not destroys and change.before_status == r.status:
            continue
        if change.before_status is None and r.status == "pass" and not destroys:
            continue  # a new resource that complies: nothing to warn about
        controls = style.text(", ".join(r.control_ids) or r.check_id)
        what = style.text(", ".join(change.changed) or f"{change.address} ({change.action})")
        where = f"{style.code(r.resource.name)} ({what})"
        check = style.code(r.check_id)
        if destroys:
            outcome = {"fail": "failing", "pass": "passing", "error": "leaving undecided"}
            verb = f"{change.action}s {where}, {outcome[r.status]} {check}"
        elif change.before_status is None:
            verb = f"creates {where} failing {check}"
        else:
            verb = {"fail": "breaks", "pass": "fixes", "error": "leaves undecided"}[
                r.status
            ] + f" {check} on {where}"
        today = f" ({change.before_status} today)" if change.before_status else ""
        lines.append(
            f"this plan {verb}: {style.text(r.message)} — {controls} would {r.status}{today}"
        )
    return lines


def unjudged_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What a plan could not judge, one line per check: not judgeable from a plan (and
    why), or resources the policy names that the plan does not have."""
    if not has_unjudged(report):
        return []
    lines = []
    for status, label in (
        ("not_assessed", "not judgeable from a plan"),
        ("not_in_plan", "not in plan"),
    ):
        by_check: dict[str, list[Result]] = {}
        for r in report.results:
            if r.status == status:
                by_check.setdefault(r.check_id, []).append(r)
        for check_id, results in by_check.items():
            names = sorted({f"{r.resource.name} ({r.environment})" for r in results})
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            why = f": {results[0].message}" if status == "not_assessed" else ""
            lines.append(f"{label}: {style.code(check_id)} on {style.text(shown + why)}")
    return lines


def environment_matrix(report: Report) -> str:
    """Each control's status per environment."""
    environments = report_environments(report)
    rows = [
        [
            cell(control.id),
            *(STATUS_LABEL[control_status_in(report, control, env)] for env in environments),
        ]
        for control in report.controls
    ]
    return table(rows, ["Control", *map(cell, environments)])


def unassessed_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """What the run was asked to assess and could not: gaps, then each control in each
    environment where it was not assessed (and no result says why), and the deadline if
    it cut the run short."""
    lines = [
        f"environment {style.text(gap.environment)}: {style.text(gap.reason)}"
        for gap in report.run.gaps
    ]
    controls = {control.id: control for control in report.controls}
    for control_id, name in unassessed(report.controls, report.results):
        control = controls[control_id]
        if name:
            reason = control.environments[name].reason or "no result"
            lines.append(style.text(f"{control_id} in {name}: {reason}"))
        else:
            lines.append(style.text(f"{control_id}: {control.reason or 'no result'}"))
    if report.run.deadline_reached:
        lines.append(
            f"the deadline ({style.text(report.run.deadline)}) was reached: facts not read by "
            "then are errors"
        )
    return lines


def unjudged_control_lines(report: Report, style: Style = PLAIN) -> list[str]:
    """Each control in each environment the matrix shows NOT ASSESSED that no gap explains:
    only results that judge nothing (a plan's), with why. Not a pass, not a failure."""
    gaps = set(unassessed(report.controls, report.results))
    lines = []
    for control in report.controls:
        for environment in report_environments(report):
            if (control.id, environment) in gaps or (
                control_status_in(report, control, environment) != "not_assessed"
            ):
                continue
            why = next(
                (
                    f"{style.code(r.check_id)} on {style.text(r.resource.name)}: "
                    f"{style.text(r.message)}"
                    for r in report.results
                    if control.id in r.control_ids
                    and r.environment == environment
                    and r.status in UNJUDGED
                ),
                style.text(control.reason or "no result"),
            )
            where = style.text(f"{control.id} in {environment}")
            lines.append(f"{where}: not judgeable from a plan ({why})")
    return lines


def _plan_sections(report: Report) -> list[str]:
    """On a plan: what it changes, verdict by verdict, and what it could not judge."""
    if not on_plan(report):
        return []
    changes = plan_change_lines(report, MARKDOWN)
    unjudged = unjudged_lines(report, MARKDOWN)
    parts = ["## What this plan changes", ""]
    parts += [f"- {line}" for line in changes] if changes else ["No verdict changes.", ""]
    if changes:
        parts.append("")
    if unjudged:
        parts += [
            "## Not judged on the plan",
            "",
            "Not a pass and not a failure: resources the plan does not have (a plan of one "
            "module shows only its part of the account) and checks that need what only the "
            "live account shows. The nightly audit judges them.",
            "",
            *(f"- {line}" for line in unjudged),
            "",
        ]
    return parts


#: report.md stays under this many bytes, however many results (GitHub and editors
#: choke on larger files; report.json and report.csv list every result).
MARKDOWN_LIMIT = 1_000_000
#: At most this many failures (and errors, waived failures) per check are shown in
#: full, and this many passes per check listed; fewer when the report would not fit.
SHOWN_PER_CHECK = 25


def render_markdown(report: Report, limit: int = MARKDOWN_LIMIT) -> str:
    """Render the report for auditors; failures and errors first, then the passes: in a
    large report, the first of each check's findings and passes, with the count of the
    rest, so that it stays under ``limit`` bytes (each section reads the results once,
    however often the findings are cut)."""
    sample = Sample(report, SHOWN_PER_CHECK)
    label, detail = overall(report, waived=True)
    head = [
        ["# policycheck report", "", f"**Overall: {label}** — {detail}.", ""],
        ["## Run", "", _run_table(report.run), ""],
        ["## Control matrix", "", _control_matrix(report), ""],
        _plan_sections(report),
        _not_assessed_section(report),
        _environments_section(report),
        _manual_section(report),
        _crosswalk_section(report),
    ]
    waivers = _waivers_section(report)
    shown = SHOWN_PER_CHECK
    while True:
        sections = [
            *head,
            _findings_section(sample, shown),
            waivers,
            _passed_section(sample, shown),
        ]
        text = "\n".join(line for section in sections for line in section)
        if len(text.encode()) <= limit or shown == 1:
            break
        shown = max(1, shown // 2)
    if len(text.encode()) > limit:  # more checks than even one finding each fits
        note = "\n\n_Cut to fit: every result is in report.json and report.csv._\n"
        text = text.encode()[: limit - len(note.encode())].decode(errors="ignore") + note
    return text


#: Findings in this order: failures, errors, waived failures.
FINDING_ORDER = {"fail": 0, "error": 1, "waived": 2}


class Sample:
    """What report.md shows of the results, read once: the first ``kept`` findings of each
    check, environment and status (so that a check's errors are not hidden behind its
    failures, nor prod's behind dev's) and passes of each check, and how many of each
    there are. Results that judge nothing (a plan's) are neither: the plan sections state
    them."""

    def __init__(self, report: Report, kept: int) -> None:
        self.findings: dict[tuple[str, str, str], list[tuple[tuple[Any, ...], Result]]] = {}
        self.passes: dict[str, list[tuple[int, Result]]] = {}
        #: check -> (environment, status) -> results
        self.counts: dict[str, Counter[tuple[str, str]]] = {}
        for index, result in enumerate(report.results):
            status, environment = result.status, result.environment
            self.counts.setdefault(result.check_id, Counter())[environment, status] += 1
            if status == "pass":
                passes = self.passes.setdefault(result.check_id, [])
                if len(passes) < kept:
                    passes.append((index, result))
            elif status in FINDING_ORDER:
                key = (FINDING_ORDER[status], environment, result.check_id)
                findings = self.findings.setdefault((result.check_id, environment, status), [])
                findings.append(((*key, result.resource.name, index), result))
                if len(findings) >= 2 * kept:
                    findings.sort(key=itemgetter(0))
                    del findings[kept:]

    def shown_findings(self, shown: int) -> list[Result]:
        first = (sorted(items, key=itemgetter(0))[:shown] for items in self.findings.values())
        kept = [item for items in first for item in items]
        return [result for _, result in sorted(kept, key=itemgetter(0))]

    def shown_passes(self, shown: int) -> list[Result]:
        kept = [item for passes in self.passes.values() for item in passes[:shown]]
        return [result for _, result in sorted(kept, key=itemgetter(0))]

    def omitted(self, statuses: tuple[str, ...], shown: int) -> list[str]:
        """Per check, how many results of these statuses are not shown, by status (passes
        are capped per check, findings per check, environment and status)."""
        lines = []
        for check_id, counts in self.counts.items():
            total: Counter[str] = Counter()
            hidden: Counter[str] = Counter()
            for (_, status), n in counts.items():
                total[status] += n
                if status in statuses and status != "pass":
                    hidden[status] += max(0, n - shown)
            if "pass" in statuses:
                hidden["pass"] = max(0, total["pass"] - shown)
            parts = [f"{hidden[s]} {STATUS_LABEL[s]} of {total[s]}" for s in statuses if hidden[s]]
            if parts:
                lines.append(f"{code(check_id)}: not shown {', '.join(parts)}")
        return lines


#: A piece of text and how it is set: "" plain, "code" (a literal: hash, ARN, file) or
#: "strong"; shared by the Markdown and HTML views.
Segment = tuple[str, str]


def run_rows(run: RunInfo) -> list[tuple[str, list[Segment]]]:
    """The run's metadata as (label, value) rows: tool, times, commit, input hashes,
    deadline, who the run was in each environment, the selection."""
    policy_name = run.policy_file.rsplit("/", 1)[-1]
    rows: list[tuple[str, list[Segment]]] = [
        ("Tool version", [(run.tool_version, "")]),
        ("Started", [(run.started_at, "")]),
        ("Finished", [(run.finished_at, "")]),
        ("Git commit", [(run.git_commit, "code")] if run.git_commit else [("unknown", "")]),
        ("Policy file", [(run.policy_file, "code")]),
        ("Policy SHA-256", [(run.policy_sha256, "code")]),
        *(
            (f"SHA-256 of {path}", [(digest, "code")])
            for path, digest in run.input_sha256.items()
            if path != policy_name
        ),
    ]
    if run.deadline:
        reached: list[Segment] = [
            (" — ", ""),
            ("reached", "strong"),
            (": facts not read by then are errors", ""),
        ]
        rows.append(("Deadline", [(run.deadline, ""), *(reached if run.deadline_reached else [])]))
    for source in run.sources:
        rows.append(
            (
                f"Plan {source.path}",
                [
                    (
                        f"Terraform {source.terraform_version}, format {source.format_version}, "
                        "SHA-256 ",
                        "",
                    ),
                    (source.sha256, "code"),
                ],
            )
        )
    if run.simulated:
        rows.append(("Accounts", [("simulated by the demo (moto on loopback), not AWS", "")]))
    for env in run.environments:
        where = f"account {env.account_id}, {env.region}, "
        if env.error:
            reach: list[Segment] = [(where, ""), ("not reached", "strong"), (f": {env.error}", "")]
        elif run.sources:
            reach = [(where + "judged on the plan", "")]
        else:
            reach = [(where + "as ", ""), (env.caller_arn, "code")]
        rows.append((f"Environment {env.name}", reach))
    if run.selected_checks:
        rows.append(("Selected checks", [(", ".join(run.selected_checks), "")]))
    if run.selected_controls:
        rows.append(("Selected controls", [(", ".join(run.selected_controls), "")]))
    if run.shard:
        rows.append(("Shard", [(run.shard, "")]))
    return rows


def _styled(segments: list[Segment]) -> str:
    setters: dict[str, Callable[[str], str]] = {
        "": cell,
        "code": code,
        "strong": lambda text: f"**{cell(text)}**",
    }
    return "".join(setters[style](text) for text, style in segments)


def _run_table(run: RunInfo) -> str:
    return table([[cell(label), _styled(value)] for label, value in run_rows(run)], ["", ""])


def short_hash(digest: str) -> str:
    """The first 12 hex digits of a SHA-256: enough to find the full one in JSON or HTML."""
    return digest[:12]


def _control_matrix(report: Report) -> str:
    return table(
        [
            [
                *row,
                len(c.manual),
                cell(", ".join(c.checks_not_run)) or "—",
                cell(c.reason) or "—",
            ]
            for row, c in zip(control_rows(report, MARKDOWN), report.controls, strict=True)
        ],
        [*control_headers(report), "Manual", "Checks not run", "Why no result"],
    )


#: What the two lists of the "Not assessed" section say (the HTML says the same).
NOT_ASSESSED_INTRO = "Selected but not assessed: the run is not a pass while any of these remains."
UNJUDGED_CONTROLS_INTRO = (
    "Not assessed on the plan, only results that judge nothing (not a pass, not a "
    "failure; the nightly audit judges them):"
)


def _not_assessed_section(report: Report) -> list[str]:
    gaps = unassessed_lines(report, MARKDOWN)
    unjudged = unjudged_control_lines(report, MARKDOWN)
    if not gaps and not unjudged:
        return []
    parts = ["## Not assessed", ""]
    if gaps:
        parts += [NOT_ASSESSED_INTRO, "", *(f"- {line}" for line in gaps), ""]
    if unjudged:
        parts += [UNJUDGED_CONTROLS_INTRO, "", *(f"- {line}" for line in unjudged), ""]
    return parts


def _environments_section(report: Report) -> list[str]:
    if len(report_environments(report)) < 2:
        return []
    return ["## Controls by environment", "", environment_matrix(report), ""]


def _manual_section(report: Report) -> list[str]:
    manual = [[cell(c.id), cell(statement)] for c in report.controls for statement in c.manual]
    if not manual:
        return []
    return [
        "## Manual statements",
        "",
        "Not verified automatically: an auditor verifies these by hand.",
        "",
        table(manual, ["Control", "Statement"]),
        "",
    ]


def _findings_section(sample: Sample, shown: int) -> list[str]:
    findings = sample.shown_findings(shown)
    body = [_finding(r) for r in findings] if findings else ["None.", ""]
    return [
        "## Failures, errors and waived failures",
        "",
        *_omitted(sample, shown, "of each check, environment and status", *FINDING_ORDER),
        *body,
    ]


def _omitted(sample: Sample, shown: int, each: str, *statuses: str) -> list[str]:
    lines = sample.omitted(statuses, shown)
    if not lines:
        return []
    return [
        f"**Only the first {shown} {each} are shown below**; report.json, report.csv and "
        "report.html list every result:",
        "",
        *(f"- {line}" for line in lines),
        "",
    ]


WAIVER_HEADERS = [
    "State",
    "Check",
    "Environment",
    "Resource",
    "Expires",
    "Owner",
    "Ticket",
    "Matched",
    "Waived",
    "Justification",
]


def _waivers_section(report: Report) -> list[str]:
    if not report.waivers:
        return []
    rows = [
        [
            w.state.upper(),
            code(w.check),
            cell(w.environment),
            cell(w.resource),
            cell(w.expires),
            cell(w.owner),
            cell(w.ticket),
            w.matched,
            w.waived,
            cell(w.justification),
        ]
        for w in report.waivers
    ]
    return ["## Waivers", "", table(rows, WAIVER_HEADERS), ""]


def _passed_section(sample: Sample, shown: int) -> list[str]:
    rows = [
        [
            cell(r.environment),
            code(r.check_id),
            code(r.resource.name),
            cell(", ".join(r.control_ids)),
            cell(r.message),
            code(short_hash(r.evidence.sha256)) if r.evidence else "—",
        ]
        for r in sample.shown_passes(shown)
    ]
    headers = ["Environment", "Check", "Resource", "Controls", "Observed", "Evidence SHA-256"]
    return [
        "## Passed",
        "",
        *_omitted(sample, shown, "of each check", "pass"),
        table(rows, headers) if rows else "None.",
        "",
    ]


def _crosswalk_section(report: Report) -> list[str]:
    """Per framework, each requirement the controls evidence, by which checks, and its
    status from those checks' results."""
    controls = {c.id: c for c in report.controls}
    checks = CheckStatuses(report.results)
    rows = [
        [
            FRAMEWORKS[framework_id].title,
            cell(e.requirement),
            cell(e.control_id),
            cell(", ".join(e.checks)),
            STATUS_LABEL[checks.requirement_status(e, controls[e.control_id])],
            cell(e.reason),
        ]
        for framework_id in FRAMEWORKS
        for e in evidence_for(framework_id, report.controls)
    ]
    if not rows:
        return []
    return [
        "## Framework crosswalk",
        "",
        table(rows, ["Framework", "Requirement", "Control", "Checks", "Status", "Why"]),
        "",
    ]
