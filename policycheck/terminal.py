"""The summary table printed on the terminal after a run."""

from tabulate import tabulate

from policycheck.render.markdown import (
    control_headers,
    control_rows,
    overall,
    plan_change_lines,
    unassessed_lines,
    unjudged_lines,
)
from policycheck.report import Report


def summary_table(report: Report) -> str:
    """Controls with their status and counts, then the overall line, what was not
    assessed, and on a plan what it changes and what it could not judge."""
    table = tabulate(control_rows(report), headers=control_headers(report), tablefmt="simple")
    label, detail = overall(report)
    return (
        f"{table}\n\n{label}: {detail} [{locations(report)}]"
        + "".join(f"\nnot assessed: {line}" for line in unassessed_lines(report))
        + "".join(f"\n{line}" for line in plan_change_lines(report))
        + "".join(f"\n{line}" for line in unjudged_lines(report))
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
