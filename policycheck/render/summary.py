"""A compact Markdown summary for $GITHUB_STEP_SUMMARY, cut to fit GitHub's 1 MiB limit."""

import itertools

from policycheck.render.markdown import MARKDOWN, cell, code, table
from policycheck.render.view import (
    control_headers,
    control_rows,
    overall,
    plan_change_lines,
    unassessed_lines,
    unjudged_lines,
)
from policycheck.report.model import Report
from policycheck.report.statuses import STATUS_LABEL

#: GitHub drops a step summary over 1 MiB; stay well below it.
SUMMARY_LIMIT_BYTES = 1024 * 1024 - 16 * 1024


def render_summary(report: Report, limit: int = SUMMARY_LIMIT_BYTES) -> str:
    """Control matrix, then failures and errors, one line each, until the limit (the
    results read until then)."""
    label, detail = overall(report, waived=True)
    head = "\n".join(
        [
            f"## policycheck: {label}",
            "",
            f"{detail} ({cell(', '.join(e.name for e in report.run.environments))}).",
            "",
            table(control_rows(report, MARKDOWN), control_headers(report)),
            "",
            "### Findings",
            "",
        ]
    )
    lines = itertools.chain(
        (f"- **NOT ASSESSED** {line}" for line in unassessed_lines(report, MARKDOWN)),
        (f"- **PLAN** {line}" for line in plan_change_lines(report, MARKDOWN)),
        (
            f"- **{STATUS_LABEL[r.status]}** {code(r.check_id)} on {code(r.resource.name)} "
            f"({cell(r.environment)}): {cell(r.message)}"
            for r in report.results
            if r.status in ("fail", "error", "waived")
        ),
        (f"- **NOT JUDGED** {line}" for line in unjudged_lines(report, MARKDOWN)),
    )
    text, size, shown, more = head, len(head.encode()), 0, 0
    for line in lines:
        size += len((line + "\n").encode())
        if size > limit - 200:
            more = 1 + sum(1 for _ in lines)
            break
        text += line + "\n"
        shown += 1
    if not shown and not more:
        text += "None.\n"
    if more:
        text += (
            f"\n_Truncated: {more} more findings are in the full report "
            f"(GitHub limits a step summary to 1 MiB)._\n"
        )
    return text
