"""DR drill facts, read from the evidence directory and its git history (not from AWS)."""

from typing import Any

from policycheck.facts import FactSpec, FetchContext, register_fact

#: The local source facts of this module read through ``ctx.client``.
EVIDENCE = "evidence"


def _records(ctx: FetchContext) -> list[dict[str, Any]]:
    return ctx.client(EVIDENCE).records_for(ctx.name)


def _deletions(ctx: FetchContext) -> list[dict[str, Any]]:
    return ctx.client(EVIDENCE).deletions_for(ctx.name)


RECORDS = register_fact(
    FactSpec("dr_drill.records", "dr_drill", ("local:ReadEvidenceFiles",), _records)
)
DELETED_RECORDS = register_fact(
    FactSpec("dr_drill.deleted_records", "dr_drill", ("local:GitLog",), _deletions)
)
