"""The summary table printed on the terminal after a run."""

from tabulate import tabulate

from policycheck.render.markdown import CONTROL_HEADERS, STATUS_LABEL, control_rows
from policycheck.report import Report


def summary_table(report: Report) -> str:
    """Controls with their status and counts, then the overall line."""
    table = tabulate(control_rows(report), headers=CONTROL_HEADERS, tablefmt="simple")
    counts = report.summary.results
    environments = ", ".join(
        f"{env.name} ({env.account_id}, {env.region})" for env in report.run.environments
    )
    return (
        f"{table}\n\n{STATUS_LABEL[report.summary.status]}: {counts.pass_} passed, "
        f"{counts.fail} failed, {counts.error} errors"
        + (f", {counts.waived} waived" if counts.waived else "")
        + f" in {counts.total} results [{environments}]"
        + "".join(
            f"\nwaiver {w.ticket} ({w.check} on {w.resource}, {w.environment}): {w.state}"
            f" (expires {w.expires})"
            for w in report.waivers
            if w.state != "active"
        )
    )
