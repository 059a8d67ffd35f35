"""The recovery-testing table of the policy document (§5), filled in from the drill
records (its column and heading keep the document's word, "evidence")."""

from datetime import date
from pathlib import Path
from typing import NamedTuple

from tabulate import tabulate

from policycheck.errors import InputError
from policycheck.policy.load import Policy
from policycheck.policy.schedule import next_due
from policycheck.sources.repository.records import RecordsDirError, RecordStore

DRILL_CHECK = "dr-drill-evidence-fresh"
HEADERS = ["Test type", "Frequency", "Last tested", "Outcome", "Evidence location", "Next due"]
INVALID_HEADING = "Invalid evidence records (not counted):"


class DrillsReport(NamedTuple):
    """The §5 rows, and every drill record that was refused or is invalid
    (``path: reason``)."""

    rows: list[list[str]]
    problems: list[str]


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell (one line, no column separator)."""
    return " ".join(text.split()).replace("|", "\\|")


def drills_report(policy: Policy, today: date, root: Path | None = None) -> DrillsReport:
    """One row per drill and environment the policy binds the drill check to; a drill
    with an invalid record says so in its row. ``root``: the repository the records must
    stay in (default: ``policy.repository``, as for ``run``).

    Raises InputError (the CLI prints it, exit 2) when the records directory does not
    exist, is not a directory or is outside ``root``."""
    store = RecordStore(policy.records_dir, root or policy.repository)
    try:
        problems = [problem.message for problem in store.problems()]
    except RecordsDirError as exc:
        raise InputError(f"{policy.path}: evidence_dir: {exc}") from None
    rows = []
    for binding in policy.bindings:
        if binding.check.id != DRILL_CHECK:
            continue
        frequency = str(binding.params.model_dump()["frequency"])
        for group in binding.resource_groups:
            label = policy.document.resources[group].description or group
            for environment in binding.environments or tuple(policy.environments):
                every = len(policy.environments) > 1 and binding.environments is None
                shown = f"{label} ({environment})" if every else label
                for drill in policy.resource_names(group, environment):
                    latest = _latest(store, drill, environment, frequency, today)
                    rows.append([shown, frequency.capitalize(), *latest])
    return DrillsReport(rows, problems)


def _latest(
    store: RecordStore, drill: str, environment: str, frequency: str, today: date
) -> list[str]:
    """Last tested, outcome, evidence location and next due of a drill in an environment."""
    broken = [problem.path for problem in store.problems(drill)]
    runs = [r for r in store.readable_records_for(drill) if r["environment"] == environment]
    passes = [r for r in runs if r["outcome"] == "pass"]
    latest = runs[-1] if runs else None
    due = next_due(date.fromisoformat(passes[-1]["date"]), frequency) if passes else None
    if broken:
        outcome = f"invalid evidence: {', '.join(dict.fromkeys(broken))}"
        next_time = "unknown (invalid evidence)"
    else:
        minutes = f" ({latest['time_to_recovery_minutes']:g} min)" if latest else ""
        outcome = f"{latest['outcome']}{minutes}" if latest else "—"
        next_time = (
            "now (never passed)" if due is None else f"{due} (overdue)" if due < today else str(due)
        )
    where = f"{latest['evidence'][0]} ({latest['path']})" if latest else "—"
    return [latest["date"] if latest else "—", _cell(outcome), _cell(where), next_time]


def drills_table(policy: Policy, today: date, root: Path | None = None) -> str:
    """The §5 table as Markdown, followed by the invalid drill records, if any, each
    with its reason."""
    report = drills_report(policy, today, root)
    table = tabulate(report.rows, headers=HEADERS, tablefmt="github")
    if not report.problems:
        return table
    listed = "\n".join(f"- {_cell(problem)}" for problem in report.problems)
    return f"{table}\n\n{INVALID_HEADING}\n{listed}"
