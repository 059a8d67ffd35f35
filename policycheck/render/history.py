"""The history's timelines as history.json and as history.md (tables and a text strip per
control and environment); history.html is the latest report as report.html shows it, with
a strip per control (render/html.py)."""

from policycheck.render.markdown import cell, code, table
from policycheck.report.history import History, counted
from policycheck.report.statuses import STATUS_LOOKS

#: Statuses a day may have that are neither a pass nor a failure (no evidence either way,
#: or a waiver): counted in a column of their own.
_OTHER = ("error", "not_assessed", "waived", "not_applicable", "not_selected", "manual")


def render_history_json(history: History) -> str:
    return history.model_dump_json(indent=2) + "\n"


def render_history_markdown(history: History) -> str:
    """Summary per control and environment, the failures, the policy changes, and a line
    per control and environment with one character per day."""
    parts = [
        "# policycheck history",
        "",
        f"{history.start} to {history.end}: {counted(len(history.days), 'day')}, "
        f"{counted(history.reports, 'report')}; latest `{history.latest}`. A day counts the "
        "last report of that day; a failure lasts until a report shows the control passing, "
        "waived or not applicable (days between without evidence count as out of "
        "compliance).",
        "",
        *_reports(history),
        "## Compliance by control and environment",
        "",
        table(
            [
                [
                    t.control_id,
                    t.environment,
                    t.days_out_of_compliance,
                    len(t.failures),
                    t.days_by_status.get("pass", 0),
                    t.days_by_status.get("fail", 0),
                    sum(t.days_by_status.get(s, 0) for s in _OTHER),
                    t.days_by_status.get("no_report", 0),
                ]
                for t in history.timelines
            ],
            [
                "Control",
                "Environment",
                "Days out of compliance",
                "Failures",
                "Days passing",
                "Days failing",
                "Days other (error, not assessed, waived, …)",
                "Days without a report",
            ],
        ),
        "",
        *_failures(history),
        *_policy_changes(history),
        *_strips(history),
    ]
    return "\n".join(parts)


def _reports(history: History) -> list[str]:
    """The reports counted and those skipped, with why: only reports of the live accounts
    are evidence (not a plan's, not the demo's)."""
    used = [f"- {code(path)}" for path in history.used]
    skipped = [f"- {code(s.report)}: {cell(s.reason)}" for s in history.skipped]
    parts = ["## Reports", "", "Counted as evidence of the live accounts:", "", *used, ""]
    if skipped:
        parts += ["Skipped (not evidence of the live accounts, or outside the period):", ""]
        parts += [*skipped, ""]
    return parts


def _failures(history: History) -> list[str]:
    rows = [
        [
            t.control_id,
            t.environment,
            f.started,
            f.ended or "(still failing)",
            STATUS_LOOKS[f.ended_as].label if f.ended_as else "—",
            f.days,
        ]
        for t in history.timelines
        for f in t.failures
    ]
    headers = ["Control", "Environment", "Failed from", "Until", "Ended as", "Days"]
    return ["## Failures", "", table(rows, headers) if rows else "None.", ""]


def _policy_changes(history: History) -> list[str]:
    rows = [
        [
            c.date,
            cell(", ".join(c.changed)),
            f"`{c.policy_sha256_before[:12]}` → `{c.policy_sha256_after[:12]}`",
            code(c.report),
        ]
        for c in history.policy_changes
    ]
    headers = ["Date", "Changed", "Policy SHA-256", "First report with the change"]
    return ["## Policy changes", "", table(rows, headers) if rows else "None.", ""]


def _strips(history: History) -> list[str]:
    """A code block: a line per control and environment, one character per day, and a
    line marking the days the policy changed (^)."""
    changed = {c.date for c in history.policy_changes}
    marker = "policy changed"
    labels = [f"{t.control_id} {t.environment}" for t in history.timelines]
    width = max(len(label) for label in [*labels, marker])
    lines = [
        f"{label:<{width}}  " + "".join(STATUS_LOOKS[s].letter for s in t.statuses)
        for label, t in zip(labels, history.timelines, strict=True)
    ]
    if changed:
        marks = "".join("^" if day in changed else " " for day in history.days)
        lines.append(f"{marker:<{width}}  {marks}".rstrip())
    legend = ", ".join(f"{look.letter} {look.label}" for look in STATUS_LOOKS.values())
    return [
        "## Status per day",
        "",
        f"From {history.start} (first character) to {history.end}: {legend}.",
        "",
        "```text",
        *lines,
        "```",
        "",
    ]
