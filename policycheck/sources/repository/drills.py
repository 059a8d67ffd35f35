"""DR drills: the resource type (a drill exists through its records), and its facts,
read from the records directory and its git history (not from AWS)."""

from typing import Any

from policycheck.plugin.facts import FactSpec, FetchContext
from policycheck.plugin.plans import PlanGap
from policycheck.plugin.resources import ResourceType
from policycheck.sources.repository.records import RECORD_STORE

DR_DRILL = ResourceType(
    name="dr_drill",
    label="DR drill",
    missing_codes=frozenset(),
    arn_template="urn:policycheck:dr-drill:{name}",
)


def _records(ctx: FetchContext) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ctx.client(RECORD_STORE).records_for(ctx.name)
    return records


def _deletions(ctx: FetchContext) -> list[dict[str, Any]]:
    deletions: list[dict[str, Any]] = ctx.client(RECORD_STORE).deletions_for(ctx.name)
    return deletions


RECORDS = FactSpec("dr_drill.records", DR_DRILL, ("local:ReadEvidenceFiles",), _records)
DELETED_RECORDS = FactSpec("dr_drill.deleted_records", DR_DRILL, ("local:GitLog",), _deletions)
_NOT_IN_PLANS = "a plan cannot show DR drill evidence (records committed to git)"
RECORDS_IN_PLANS = PlanGap(fact=RECORDS.name, why=_NOT_IN_PLANS)
DELETED_RECORDS_IN_PLANS = PlanGap(fact=DELETED_RECORDS.name, why=_NOT_IN_PLANS)
