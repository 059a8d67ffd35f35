"""The auditor's Markdown report: run metadata, control matrix, findings, passes."""

import json
from typing import Any

from tabulate import tabulate

from policycheck.render.statuses import STATUS_LABEL
from policycheck.report import Report, Result, control_status_in, report_environments


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


def environment_matrix(report: Report) -> str:
    """Each control's status per environment."""
    environments = report_environments(report)
    rows = [
        [
            control.id,
            *(STATUS_LABEL[control_status_in(report, control, env)] for env in environments),
        ]
        for control in report.controls
    ]
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
    run = report.run
    summary = report.summary
    counts = summary.results
    parts = [
        "# policycheck report",
        "",
        f"**Overall: {STATUS_LABEL[summary.status]}** — {counts.pass_} passed, {counts.fail} "
        f"failed, {counts.error} errors, {counts.waived} waived across {counts.total} results.",
        "",
        "## Run",
        "",
        table(
            [
                ["Tool version", run.tool_version],
                ["Started", run.started_at],
                ["Finished", run.finished_at],
                ["Policy file", f"`{run.policy_file}`"],
                ["Policy SHA-256", f"`{run.policy_sha256}`"],
                *(
                    [
                        [
                            "Deadline",
                            run.deadline
                            + (
                                " — **reached**: facts not read by then are errors"
                                if run.deadline_reached
                                else ""
                            ),
                        ]
                    ]
                    if run.deadline
                    else []
                ),
                *(
                    [
                        f"Environment {env.name}",
                        f"account {env.account_id}, {env.region}, "
                        + (
                            f"**not reached**: {env.error}"
                            if env.error
                            else f"as `{env.caller_arn}`"
                        ),
                    ]
                    for env in run.environments
                ),
                *(
                    [["Selected checks", ", ".join(run.selected_checks)]]
                    if run.selected_checks
                    else []
                ),
                *(
                    [["Selected controls", ", ".join(run.selected_controls)]]
                    if run.selected_controls
                    else []
                ),
                *([["Shard", run.shard]] if run.shard else []),
            ],
            ["", ""],
        ),
        "",
        "## Control matrix",
        "",
        table(
            [
                [*row, len(c.manual), ", ".join(c.checks_not_run) or "—", cell(c.reason) or "—"]
                for row, c in zip(control_rows(report), report.controls, strict=True)
            ],
            [*CONTROL_HEADERS, "Manual", "Checks not run", "Why no result"],
        ),
        "",
    ]
    unassessed = unassessed_lines(report)
    if unassessed:
        parts += [
            "## Not assessed",
            "",
            "Selected but not assessed: the run is not a pass while any of these remains.",
            "",
            *(f"- {cell(line)}" for line in unassessed),
            "",
        ]
    if len(report_environments(report)) > 1:
        parts += ["## Controls by environment", "", environment_matrix(report), ""]
    manual = [(c.id, statement) for c in report.controls for statement in c.manual]
    if manual:
        parts += [
            "## Manual statements",
            "",
            "Not verified automatically: an auditor verifies these by hand.",
            "",
            table(
                [[control_id, cell(text)] for control_id, text in manual], ["Control", "Statement"]
            ),
            "",
        ]
    order = {"fail": 0, "error": 1, "waived": 2}
    findings = [r for r in report.results if r.status != "pass"]
    findings.sort(key=lambda r: (order[r.status], r.environment, r.check_id, r.resource.name))
    parts += ["## Failures, errors and waived failures", ""]
    parts += [_finding(r) for r in findings] if findings else ["None.", ""]
    if report.waivers:
        parts += [
            "## Waivers",
            "",
            table(
                [
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
                ],
                [
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
                ],
            ),
            "",
        ]
    passes = [r for r in report.results if r.status == "pass"]
    parts += ["## Passed", ""]
    parts += [
        table(
            [
                [
                    r.environment,
                    f"`{r.check_id}`",
                    f"`{r.resource.name}`",
                    ", ".join(r.control_ids),
                    cell(r.message),
                ]
                for r in passes
            ],
            ["Environment", "Check", "Resource", "Controls", "Observed"],
        )
        if passes
        else "None.",
        "",
    ]
    return "\n".join(parts)
