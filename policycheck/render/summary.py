"""A compact Markdown summary for $GITHUB_STEP_SUMMARY, cut to fit GitHub's 1 MiB limit."""

from policycheck.render.markdown import (
    CONTROL_HEADERS,
    cell,
    control_rows,
    table,
    unassessed_lines,
)
from policycheck.report import Report
from policycheck.statuses import STATUS_LABEL

#: GitHub drops a step summary over 1 MiB; stay well below it.
SUMMARY_LIMIT_BYTES = 1024 * 1024 - 16 * 1024


def render_summary(report: Report, limit: int = SUMMARY_LIMIT_BYTES) -> str:
    """Control matrix, then failures and errors, one line each, until the limit."""
    counts = report.summary.results
    head = "\n".join(
        [
            f"## policycheck: {STATUS_LABEL[report.summary.status]}",
            "",
            f"{counts.pass_} passed, {counts.fail} failed, {counts.error} errors, "
            f"{counts.waived} waived in {counts.total} results "
            f"({', '.join(e.name for e in report.run.environments)}).",
            "",
            table(control_rows(report), CONTROL_HEADERS),
            "",
            "### Findings",
            "",
        ]
    )
    lines = [
        *(f"- **NOT ASSESSED** {cell(line)}" for line in unassessed_lines(report)),
        *(
            f"- **{STATUS_LABEL[r.status]}** `{r.check_id}` on `{r.resource.name}` "
            f"({r.environment}): {cell(r.message)}"
            for r in report.results
            if r.status in ("fail", "error", "waived")
        ),
    ] or ["None."]
    text, shown = head, 0
    for line in lines:
        if len((text + line + "\n").encode()) > limit - 200:
            break
        text += line + "\n"
        shown += 1
    if shown < len(lines):
        text += (
            f"\n_Truncated: {len(lines) - shown} more findings are in the full report "
            f"(GitHub limits a step summary to 1 MiB)._\n"
        )
    return text
