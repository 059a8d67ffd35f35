"""The auditor's Markdown report (report.md): run metadata, control matrix, findings,
passes."""

import json
from collections import Counter
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from policycheck.policy.crosswalk import FRAMEWORKS, CheckStatuses, evidence_for
from policycheck.render.markdown import MARKDOWN, cell, code, table
from policycheck.render.view import (
    NOT_ASSESSED_INTRO,
    UNJUDGED_CONTROLS_INTRO,
    Segment,
    control_headers,
    control_rows,
    on_plan,
    overall,
    plan_change_lines,
    run_rows,
    unassessed_lines,
    unjudged_control_lines,
    unjudged_lines,
)
from policycheck.report.model import Report, Result, RunInfo, control_status_in, report_environments
from policycheck.report.statuses import STATUS_LABEL


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
