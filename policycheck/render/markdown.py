"""The auditor's Markdown report: run metadata, control matrix, findings, passes."""

import json
from typing import Any

from tabulate import tabulate

from policycheck.report import UNJUDGED, Report, Result, RunInfo, assess_control, unassessed

STATUS_LABEL = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "waived": "WAIVED",
    "manual": "MANUAL",
    "not_assessed": "NOT ASSESSED",
    "not_applicable": "N/A",
    "not_selected": "NOT SELECTED",
    "not_in_plan": "NOT IN PLAN",
}


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, sort_keys=True) + "\n```"


def _finding(result: Result) -> str:
    lines = [
        f"### {STATUS_LABEL[result.status]}: `{result.check_id}` on `{result.resource.name}` "
        f"({result.environment})",
        "",
        f"- **Check:** {result.title}",
        f"- **Controls:** {', '.join(result.control_ids) or '(none)'}",
        f"- **Severity:** {result.severity}",
        f"- **Resource:** `{result.resource.arn}`",
        f"- **Finding:** {result.message}",
    ]
    if result.waiver:
        w = result.waiver
        state = "expired on" if w.expired else "waived until"
        lines.append(
            f"- **Waiver:** {state} {w.expires} — {w.justification} "
            f"(owner {w.owner}, ticket {w.ticket})"
        )
    if result.error:
        lines.append(f"- **AWS error:** `{result.error.code}`: {result.error.message}")
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
    lines += ["", f"**Remediation:** {result.remediation}", ""]
    return "\n".join(lines)


CONTROL_HEADERS = ["Control", "Title", "Status", "Pass", "Fail", "Error"]
#: Columns a report judged on a plan adds to the control matrix.
PLAN_HEADERS = ["Not in plan", "Not judgeable"]


def on_plan(report: Report) -> bool:
    """Whether the report judged Terraform plans (or merges such reports)."""
    return bool(report.run.sources) or any(r.status in UNJUDGED for r in report.results)


def control_headers(report: Report) -> list[str]:
    """The control matrix's columns (see control_rows)."""
    return CONTROL_HEADERS + (PLAN_HEADERS if on_plan(report) else [])


def control_rows(report: Report) -> list[list[Any]]:
    """The control matrix: one row per control with its status and counts (and, on a
    plan, how many of its results the plan could not judge)."""
    plan = on_plan(report)
    return [
        [c.id, cell(c.title), STATUS_LABEL[c.status], c.counts.pass_, c.counts.fail, c.counts.error]
        + ([c.counts.not_in_plan, c.counts.not_assessed] if plan else [])
        for c in report.controls
    ]


def overall(report: Report, waived: bool = False) -> tuple[str, str]:
    """The verdict and the result counts behind it (the waived ones when there are some,
    or ``waived`` asks for them); on a plan, also how much of it the plan could judge:
    ("PASS on the plan", "40 judged (40 passed, 0 failed, 0 errors), 26 not in plan, 16
    not judgeable from a plan")."""
    counts = report.summary.results
    label = STATUS_LABEL[report.summary.status]
    tally = f"{counts.pass_} passed, {counts.fail} failed, {counts.error} errors" + (
        f", {counts.waived} waived" if counts.waived or waived else ""
    )
    if not on_plan(report):
        return label, f"{tally} in {counts.total} results"
    judged = counts.total - counts.not_in_plan - counts.not_assessed
    return (
        f"{label} on the plan",
        f"{judged} judged ({tally}), {counts.not_in_plan} not in plan, "
        f"{counts.not_assessed} not judgeable from a plan",
    )


def plan_change_lines(report: Report) -> list[str]:
    """What the plan does to each verdict it changes, in a sentence: the plan breaks a
    check that passes today, fixes one, deletes a resource, makes a value unknown until
    apply, or creates a resource that would fail."""
    lines = []
    for r in report.results:
        change = r.plan
        if (
            change is None
            or change.before_status == r.status
            or r.status
            not in (
                "fail",
                "error",
                "pass",
            )
        ):
            continue
        if change.before_status is None and r.status == "pass":
            continue  # a new resource that complies: nothing to warn about
        controls = ", ".join(r.control_ids) or r.check_id
        what = ", ".join(change.changed) or f"{change.address} ({change.action})"
        where = f"`{r.resource.name}` ({what})"
        if change.action == "delete":
            verb = f"deletes {where}"
        elif change.before_status is None:
            verb = f"creates {where} failing `{r.check_id}`"
        else:
            verb = {"fail": "breaks", "pass": "fixes", "error": "leaves unknown until apply"}[
                r.status
            ] + f" `{r.check_id}` on {where}"
        today = f" ({change.before_status} today)" if change.before_status else ""
        lines.append(f"this plan {verb}: {r.message} — {controls} would {r.status}{today}")
    return lines


def unjudged_lines(report: Report) -> list[str]:
    """What a plan could not judge, one line per check: not judgeable from a plan (and
    why), or resources the policy names that the plan does not have."""
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
            lines.append(f"{label}: `{check_id}` on {shown}{why}")
    return lines


def report_environments(report: Report) -> list[str]:
    """The environments a report covers or was asked to cover, in order."""
    return list(
        dict.fromkeys(
            [
                *(report.run.selected_environments or []),
                *(e.name for e in report.run.environments),
                *(g.environment for g in report.run.gaps),
            ]
        )
    )


def environment_matrix(report: Report) -> str:
    """Each control's status per environment (as assessed by the run; for reports without
    that, from the environment's results only)."""
    environments = report_environments(report)
    rows = []
    for control in report.controls:
        row = [control.id]
        for environment in environments:
            there = control.environments.get(environment)
            if there is not None:
                row.append(STATUS_LABEL[there.status])
                continue
            own = [r for r in report.results if r.environment == environment]
            legacy = assess_control(control.id, control.title, control.checks, own, control.manual)
            row.append(STATUS_LABEL[legacy.status])
        rows.append(row)
    return table(rows, ["Control", *environments])


def unassessed_lines(report: Report) -> list[str]:
    """What the run was asked to assess and could not: gaps, then each control in each
    environment where it was not assessed (and no result says why), and the deadline if
    it cut the run short."""
    lines = [f"environment {gap.environment}: {gap.reason}" for gap in report.run.gaps]
    controls = {control.id: control for control in report.controls}
    for control_id, name in unassessed(report.controls, report.results):
        control = controls[control_id]
        if name:
            lines.append(
                f"{control_id} in {name}: {control.environments[name].reason or 'no result'}"
            )
        else:
            lines.append(f"{control_id}: {control.reason or 'no result'}")
    if report.run.deadline_reached:
        lines.append(
            f"the deadline ({report.run.deadline}) was reached: facts not read by then are errors"
        )
    return lines


def _plan_sections(report: Report) -> list[str]:
    """On a plan: what it changes, verdict by verdict, and what it could not judge."""
    if not on_plan(report):
        return []
    changes, unjudged = plan_change_lines(report), unjudged_lines(report)
    parts = ["## What this plan changes", ""]
    parts += [f"- {cell(line)}" for line in changes] if changes else ["No verdict changes.", ""]
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
            *(f"- {cell(line)}" for line in unjudged),
            "",
        ]
    return parts


def render_markdown(report: Report) -> str:
    """Render the report for auditors; failures and errors first."""
    label, detail = overall(report, waived=True)
    sections = [
        ["# policycheck report", "", f"**Overall: {label}** — {detail}.", ""],
        ["## Run", "", _run_table(report.run), ""],
        ["## Control matrix", "", _control_matrix(report), ""],
        _plan_sections(report),
        _not_assessed_section(report),
        _environments_section(report),
        _manual_section(report),
        _findings_section(report),
        _waivers_section(report),
        _passed_section(report),
    ]
    return "\n".join(line for section in sections for line in section)


def _run_table(run: RunInfo) -> str:
    rows: list[list[Any]] = [
        ["Tool version", run.tool_version],
        ["Started", run.started_at],
        ["Finished", run.finished_at],
        ["Policy file", f"`{run.policy_file}`"],
        ["Policy SHA-256", f"`{run.policy_sha256}`"],
    ]
    if run.deadline:
        reached = (
            " — **reached**: facts not read by then are errors" if run.deadline_reached else ""
        )
        rows.append(["Deadline", run.deadline + reached])
    rows += [
        [
            f"Plan `{source.path}`",
            f"Terraform {source.terraform_version}, format {source.format_version}, "
            f"SHA-256 `{source.sha256}`",
        ]
        for source in run.sources
    ]
    for env in run.environments:
        if env.error:
            who = f"**not reached**: {env.error}"
        else:
            who = "judged on the plan" if run.sources else f"as `{env.caller_arn}`"
        rows.append([f"Environment {env.name}", f"account {env.account_id}, {env.region}, {who}"])
    if run.selected_checks:
        rows.append(["Selected checks", ", ".join(run.selected_checks)])
    if run.selected_controls:
        rows.append(["Selected controls", ", ".join(run.selected_controls)])
    if run.shard:
        rows.append(["Shard", run.shard])
    return table(rows, ["", ""])


def _control_matrix(report: Report) -> str:
    return table(
        [
            [*row, len(c.manual), ", ".join(c.checks_not_run) or "—", cell(c.reason) or "—"]
            for row, c in zip(control_rows(report), report.controls, strict=True)
        ],
        [*control_headers(report), "Manual", "Checks not run", "Why no result"],
    )


def _not_assessed_section(report: Report) -> list[str]:
    unassessed = unassessed_lines(report)
    if not unassessed:
        return []
    return [
        "## Not assessed",
        "",
        "Selected but not assessed: the run is not a pass while any of these remains.",
        "",
        *(f"- {cell(line)}" for line in unassessed),
        "",
    ]


def _environments_section(report: Report) -> list[str]:
    if len(report_environments(report)) < 2:
        return []
    return ["## Controls by environment", "", environment_matrix(report), ""]


def _manual_section(report: Report) -> list[str]:
    manual = [[c.id, cell(statement)] for c in report.controls for statement in c.manual]
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


def _findings_section(report: Report) -> list[str]:
    order = {"fail": 0, "error": 1, "waived": 2}
    findings = [r for r in report.results if r.status in order]
    findings.sort(key=lambda r: (order[r.status], r.environment, r.check_id, r.resource.name))
    body = [_finding(r) for r in findings] if findings else ["None.", ""]
    return ["## Failures, errors and waived failures", "", *body]


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
            f"`{w.check}`",
            w.environment,
            cell(w.resource),
            w.expires,
            w.owner,
            w.ticket,
            w.matched,
            w.waived,
            cell(w.justification),
        ]
        for w in report.waivers
    ]
    return ["## Waivers", "", table(rows, WAIVER_HEADERS), ""]


def _passed_section(report: Report) -> list[str]:
    rows = [
        [
            r.environment,
            f"`{r.check_id}`",
            f"`{r.resource.name}`",
            ", ".join(r.control_ids),
            cell(r.message),
        ]
        for r in report.results
        if r.status == "pass"
    ]
    headers = ["Environment", "Check", "Resource", "Controls", "Observed"]
    return ["## Passed", "", table(rows, headers) if rows else "None.", ""]
