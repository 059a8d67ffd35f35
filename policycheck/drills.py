"""The recovery-testing table of the policy document (§5), filled in from the evidence."""

from datetime import date

from tabulate import tabulate

from policycheck.checks.drills import next_due
from policycheck.evidence import EvidenceStore
from policycheck.policy import Policy

DRILL_CHECK = "dr-drill-evidence-fresh"
HEADERS = ["Test type", "Frequency", "Last tested", "Outcome", "Evidence location", "Next due"]


def drill_rows(policy: Policy, today: date) -> list[list[str]]:
    """One row per drill and environment the policy binds the drill check to."""
    store = EvidenceStore(policy.evidence_dir)
    rows = []
    for binding in policy.bindings:
        if binding.check.id != DRILL_CHECK:
            continue
        params = binding.params
        for group in binding.resource_groups:
            label = policy.document.resources[group].description or group
            for environment in binding.environments or tuple(policy.environments):
                for drill in policy.resource_names(group, environment):
                    runs = [r for r in store.records_for(drill) if r["environment"] == environment]
                    passes = [r for r in runs if r["outcome"] == "pass"]
                    latest = runs[-1] if runs else None
                    due = (
                        next_due(date.fromisoformat(passes[-1]["date"]), params.frequency)
                        if passes
                        else None
                    )
                    rows.append(
                        [
                            f"{label} ({environment})"
                            if len(policy.environments) > 1 and binding.environments is None
                            else label,
                            params.frequency.capitalize(),
                            latest["date"] if latest else "—",
                            f"{latest['outcome']} ({latest['time_to_recovery_minutes']:g} min)"
                            if latest
                            else "—",
                            f"{latest['evidence'][0]} ({latest['path']})" if latest else "—",
                            "now (never passed)"
                            if due is None
                            else f"{due} (overdue)"
                            if due < today
                            else str(due),
                        ]
                    )
    return rows


def drills_table(policy: Policy, today: date) -> str:
    """The §5 table as Markdown."""
    return tabulate(drill_rows(policy, today), headers=HEADERS, tablefmt="github")
