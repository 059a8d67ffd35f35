"""The auditor's Markdown report: run metadata, control matrix, findings, passes."""

import json
from typing import Any

from tabulate import tabulate

from policycheck.report import Report, Result, RunInfo, assess_control

STATUS_LABEL = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "waived": "WAIVED",
    "manual": "MANUAL",
    "not_assessed": "NOT ASSESSED",
    "not_applicable": "N/A",
    "not_selected": "NOT SELECTED",
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


def control_rows(report: Report) -> list[list[Any]]:
    """The control matrix: one row per control with its status and counts."""
    return [
        [c.id, cell(c.title), STATUS_LABEL[c.status], c.counts.pass_, c.counts.fail, c.counts.error]
        for c in report.controls
    ]


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
    environment where it was not assessed, and the deadline if it cut the run short."""
    lines = [f"environment {gap.environment}: {gap.reason}" for gap in report.run.gaps]
    for control in report.controls:
        if control.environments:
            lines += [
                f"{control.id} in {name}: {there.reason or 'no result'}"
                for name, there in control.environments.items()
                if there.status == "not_assessed"
            ]
        elif control.status == "not_assessed":
            lines.append(f"{control.id}: {control.reason or 'no result'}")
    if report.run.deadline_reached:
        lines.append(
            f"the deadline ({report.run.deadline}) was reached: facts not read by then are errors"
        )
    return lines


def render_markdown(report: Report) -> str:
    """Render the report for auditors; failures and errors first."""
    counts = report.summary.results
    sections = [
        [
            "# policycheck report",
            "",
            f"**Overall: {STATUS_LABEL[report.summary.status]}** — {counts.pass_} passed, "
            f"{counts.fail} failed, {counts.error} errors, {counts.waived} waived across "
            f"{counts.total} results.",
            "",
        ],
        ["## Run", "", _run_table(report.run), ""],
        ["## Control matrix", "", _control_matrix(report), ""],
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
    for env in run.environments:
        reach = f"**not reached**: {env.error}" if env.error else f"as `{env.caller_arn}`"
        rows.append([f"Environment {env.name}", f"account {env.account_id}, {env.region}, {reach}"])
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
        [*CONTROL_HEADERS, "Manual", "Checks not run", "Why no result"],
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
    findings = [r for r in report.results if r.status != "pass"]
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
