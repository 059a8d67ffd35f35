"""The summary table printed on the terminal after a run."""

from tabulate import tabulate

from policycheck.render.characters import visible
from policycheck.render.view import (
    control_headers,
    control_rows,
    overall,
    plan_change_lines,
    unassessed_lines,
    unjudged_lines,
)
from policycheck.report.model import FINDINGS, Report
from policycheck.report.statuses import STATUS_LABEL

#: Findings listed one by one after the matrix; more are counted.
LISTED_FINDINGS = 20


def summary_table(report: Report) -> str:
    """Controls with their status and counts, then the overall line, what was not
    assessed, and on a plan what it changes and what it could not judge."""
    table = tabulate(control_rows(report), headers=control_headers(report), tablefmt="simple")
    label, detail = overall(report)
    return (
        f"{table}\n"
        + "".join(f"\n{line}" for line in finding_lines(report))
        + f"\n\n{label}: {detail} [{locations(report)}]"
        + "".join(f"\nnot assessed: {line}" for line in unassessed_lines(report))
        + "".join(f"\n{line}" for line in plan_change_lines(report))
        + "".join(f"\n{line}" for line in unjudged_lines(report))
        + "".join(
            f"\nwaiver {w.ticket} ({w.check} on {w.resource}, {w.environment}): {w.state}, "
            f"waived {w.waived} result(s) (expires {w.expires})"
            for w in report.waivers
        )
    )


def finding_lines(report: Report, limit: int = LISTED_FINDINGS) -> list[str]:
    """What failed or erred, one line each (check, resource, environment, why), the
    first ``limit``, then the count of the rest; control characters from AWS or a report
    made visible (a terminal would run an ANSI escape)."""
    findings = (r for r in report.results if r.status in FINDINGS)
    lines: list[str] = []
    more = 0
    for result in findings:
        if len(lines) == limit:
            more += 1
            continue
        lines.append(
            visible(
                f"{STATUS_LABEL[result.status]} {result.check_id} on {result.resource.name} "
                f"({result.environment}): {result.message}".replace("\n", " ")
            )
        )
    if more:
        lines.append(f"... and {more} more (every finding is in report.md and report.json)")
    return lines


#: Up to this many locations are listed one by one; more are counted.
LISTED_LOCATIONS = 4


def locations(report: Report) -> str:
    """Where the run looked: each environment (account, region), or counts of them."""
    reached = report.run.environments
    unreached = sum(1 for env in reached if env.error)
    if len(reached) <= LISTED_LOCATIONS:
        return ", ".join(
            f"{env.name} ({env.account_id}, {env.region}{', not reached' if env.error else ''})"
            for env in reached
        )
    counted = (
        f"{len({e.name for e in reached})} environments in {len({e.account_id for e in reached})}"
        f" accounts and {len({e.region for e in reached})} regions"
    )
    return counted + (f", {unreached} not reached" if unreached else "")
