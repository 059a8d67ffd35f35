"""Recovery-testing checks: DR drills happen on schedule, pass, meet the RTO, and their
evidence is kept for the retention period."""

from datetime import date, datetime
from typing import Any

from pydantic import Field

from policycheck.plugin.check import NOW, RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples
from policycheck.policy.schedule import Frequency, add_months, next_due
from policycheck.sources.repository.records import RECORD_STORE

ADJECTIVE = {
    "monthly": "monthly",
    "quarterly": "quarterly",
    "semiannually": "semi-annual",
    "annually": "annual",
}


def _drill_record(day: str, outcome: str, minutes: float) -> Call:
    """Commit a drill record of one run of the drill (a local call, not AWS)."""
    record = {
        "drill": "{name}",
        "date": day,
        "environment": "{env}",
        "outcome": outcome,
        "time_to_recovery_minutes": minutes,
        "evidence": ["https://github.com/example/ai-connectors/actions/runs/1"],
        "performed_by": "platform on-call",
    }
    return Call(RECORD_STORE, "commit_record", {"record": record})


class DrillParams(CheckParams):
    frequency: Frequency = Field(description="How often the drill must pass.")
    rto_minutes: float | None = Field(
        None, gt=0, description="RTO of the component the drill recovers; none: not timed."
    )
    retention_years: int = Field(3, ge=1, description="Evidence younger than this is kept.")


def deleted_too_early(deletion: dict[str, Any], retention_years: int) -> bool:
    """A record deleted before it was ``retention_years`` old (unknown age: too early)."""
    if deletion.get("record_date") is None:
        return True
    deleted = datetime.fromisoformat(deletion["deleted_at"]).date()
    recorded = date.fromisoformat(deletion["record_date"])
    return deleted < add_months(recorded, 12 * retention_years)


@check(
    id="dr-drill-evidence-fresh",
    passes="the latest run of the drill in the environment passed, took no longer than the "
    "component's RTO, and passed within the drill's frequency; no evidence record younger "
    "than 3 years was deleted or rewritten in git history",
    examples=Examples(
        compliant=(_drill_record("{date_10_days_ago}", "pass", 5),),
        deviation=Deviation(
            "the latest run failed, over its RTO", (_drill_record("{yesterday}", "fail", 500),)
        ),
    ),
    title="DR drill passed within its frequency and RTO, with evidence retained",
    resource_type="dr_drill",
    severity="high",
    facts=("dr_drill.records", "dr_drill.deleted_records"),
    remediation=(
        "Run the {name} drill (backup-and-disaster-recovery.md §5), commit its evidence "
        "record under the evidence directory, and restore any record deleted within the "
        "retention period from git history"
    ),
    params=DrillParams,
)
def drill_evidence_fresh(facts: Facts, params: DrillParams) -> Verdict:
    """The environment's latest run of the drill passed, took no longer than the RTO, and
    passed within ``frequency`` of the run date; no record younger than
    ``retention_years`` was deleted from git history."""
    environment = facts[RESOURCE]["environment"]
    today = datetime.fromisoformat(facts[NOW]).date()
    runs = [r for r in facts["dr_drill.records"] if r["environment"] == environment]
    runs = [r for r in runs if date.fromisoformat(r["date"]) <= today]
    passes = [r for r in runs if r["outcome"] == "pass"]
    latest = runs[-1] if runs else None
    last_pass = passes[-1] if passes else None
    due = next_due(date.fromisoformat(last_pass["date"]), params.frequency) if last_pass else None
    deleted = [
        d for d in facts["dr_drill.deleted_records"] if deleted_too_early(d, params.retention_years)
    ]
    problems = []
    if latest is None:
        problems.append(f"no recorded run in {environment}")
    else:
        if latest["outcome"] != "pass":
            problems.append(f"latest run on {latest['date']} failed")
        minutes = latest["time_to_recovery_minutes"]
        if params.rto_minutes is not None and minutes > params.rto_minutes:
            problems.append(
                f"latest run took {minutes:g} min, over the {params.rto_minutes:g}-min RTO"
            )
        if due is None or last_pass is None:
            problems.append("it never passed")
        elif today > due:
            problems.append(f"last passed on {last_pass['date']}, due again by {due}")
    for deletion in deleted:
        problems.append(
            f"{deletion['path']} was {deletion.get('change', 'deleted')} on "
            f"{deletion['deleted_at'][:10]} within the {params.retention_years}-year retention"
        )
    expected = {
        "frequency": params.frequency,
        "rto_minutes": params.rto_minutes,
        "retention_years": params.retention_years,
        "latest_outcome": "pass",
    }
    expected_text = (
        f"a passing {ADJECTIVE[params.frequency]} run"
        + (f" within the {params.rto_minutes:g}-min RTO" if params.rto_minutes else "")
        + f" and no record deleted within {params.retention_years} years"
    )
    if not problems:
        assert latest is not None and last_pass is not None
        timing = f" in {latest['time_to_recovery_minutes']:g} min" if params.rto_minutes else ""
        text = f"last passed on {last_pass['date']}{timing}; next due {due}"
    else:
        text = "; ".join(problems)
    observed = {
        "environment": environment,
        "runs": len(runs),
        "latest": latest,
        "last_passed": last_pass,
        "next_due": due.isoformat() if due else None,
        "deleted_within_retention": deleted,
    }
    return judge(not problems, text, expected_text, expected=expected, observed=observed)
