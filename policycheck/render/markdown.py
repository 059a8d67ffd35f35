"""The auditor's Markdown report: run metadata, control matrix, findings, passes."""

import json
from collections import Counter
from operator import itemgetter
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


#: report.md stays under this many bytes, however many results (GitHub and editors
#: choke on larger files; report.json and report.csv list every result).
MARKDOWN_LIMIT = 1_000_000
#: At most this many failures (and errors, waived failures) per check are shown in
#: full, and this many passes per check listed; fewer when the report would not fit.
SHOWN_PER_CHECK = 25


def render_markdown(report: Report, limit: int = MARKDOWN_LIMIT) -> str:
    """Render the report for auditors; failures and errors first, then the passes: in a
    large report, the first of each check's findings and passes, with the count of the
    rest, so that it stays under ``limit`` bytes (the results are read once)."""
    sample = Sample(report, SHOWN_PER_CHECK)
    shown = SHOWN_PER_CHECK
    while True:
        text = _markdown(report, sample, shown)
        if len(text.encode()) <= limit or shown == 1:
            break
        shown = max(1, shown // 2)
    if len(text.encode()) > limit:  # more checks than even one finding each fits
        note = "\n\n_Cut to fit: every result is in report.json and report.csv._\n"
        text = text.encode()[: limit - len(note.encode())].decode(errors="ignore") + note
    return text


def _markdown(report: Report, sample: "Sample", shown: int) -> str:
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
        _findings_section(sample, shown),
        _waivers_section(report),
        _passed_section(sample, shown),
    ]
    return "\n".join(line for section in sections for line in section)


#: Findings in this order: failures, errors, waived failures.
FINDING_ORDER = {"fail": 0, "error": 1, "waived": 2}


class Sample:
    """What report.md shows of the results, read once: per check, the first ``kept``
    findings (in the findings' order) and passes (in the results' order), and how many
    of each there are."""

    def __init__(self, report: Report, kept: int) -> None:
        self.findings: dict[str, list[tuple[tuple[Any, ...], Result]]] = {}
        self.passes: dict[str, list[tuple[int, Result]]] = {}
        self.counts: dict[str, Counter[str]] = {}
        for index, result in enumerate(report.results):
            self.counts.setdefault(result.check_id, Counter())[result.status] += 1
            if result.status == "pass":
                passes = self.passes.setdefault(result.check_id, [])
                if len(passes) < kept:
                    passes.append((index, result))
                continue
            order = FINDING_ORDER.get(result.status, len(FINDING_ORDER))
            key = (order, result.environment, result.check_id)
            findings = self.findings.setdefault(result.check_id, [])
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
        """Per check, how many results of these statuses are not shown."""
        lines = []
        for check_id, counts in self.counts.items():
            total = sum(counts[status] for status in statuses)
            if total > shown:
                lines.append(f"`{check_id}`: {total - shown} more not shown (of {total})")
        return lines


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


def _findings_section(sample: Sample, shown: int) -> list[str]:
    findings = sample.shown_findings(shown)
    body = [_finding(r) for r in findings] if findings else ["None.", ""]
    return [
        "## Failures, errors and waived failures",
        "",
        *body,
        *_omitted(sample, shown, "fail", "error", "waived"),
    ]


def _omitted(sample: Sample, shown: int, *statuses: str) -> list[str]:
    lines = sample.omitted(statuses, shown)
    if not lines:
        return []
    return [
        f"Only the first {shown} of each check are shown; report.json and report.csv list "
        "every result:",
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


def _passed_section(sample: Sample, shown: int) -> list[str]:
    rows = [
        [
            r.environment,
            f"`{r.check_id}`",
            f"`{r.resource.name}`",
            ", ".join(r.control_ids),
            cell(r.message),
        ]
        for r in sample.shown_passes(shown)
    ]
    headers = ["Environment", "Check", "Resource", "Controls", "Observed"]
    return [
        "## Passed",
        "",
        table(rows, headers) if rows else "None.",
        "",
        *_omitted(sample, shown, "pass"),
    ]
