"""The summary table printed on the terminal after a run."""

from tabulate import tabulate

from policycheck.render.markdown import (
    CONTROL_HEADERS,
    control_rows,
    unassessed_lines,
)
from policycheck.report import Report
from policycheck.statuses import STATUS_LABEL


def summary_table(report: Report) -> str:
    """Controls with their status and counts, then the overall line."""
    table = tabulate(control_rows(report), headers=CONTROL_HEADERS, tablefmt="simple")
    counts = report.summary.results
    return (
        f"{table}\n\n{STATUS_LABEL[report.summary.status]}: {counts.pass_} passed, "
        f"{counts.fail} failed, {counts.error} errors"
        + (f", {counts.waived} waived" if counts.waived else "")
        + f" in {counts.total} results [{locations(report)}]"
        + "".join(f"\nnot assessed: {line}" for line in unassessed_lines(report))
        + "".join(
            f"\nwaiver {w.ticket} ({w.check} on {w.resource}, {w.environment}): {w.state}, "
            f"waived {w.waived} result(s) (expires {w.expires})"
            for w in report.waivers
        )
    )


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
