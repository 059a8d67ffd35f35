"""Judging one target: from its collected facts to a result (fail closed: a missing
resource fails, an unreadable fact or a check that cannot judge is an error)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policycheck.engine.fetching import FactKey, fact_key
from policycheck.engine.planning import NothingMatches, Target, Unassessable
from policycheck.plugin.check import NOW, RESOURCE, CheckSpec
from policycheck.plugin.facts import FactOutcome
from policycheck.plugin.registry import Registry
from policycheck.plugin.resources import ResourceRef
from policycheck.policy.controls import Catalog
from policycheck.report.model import (
    ErrorInfo,
    Evidence,
    FactEvidence,
    ResourceInfo,
    Result,
    evidence_sha256,
)


def evaluate(
    target: Target,
    outcomes: Mapping[FactKey, FactOutcome],
    catalog: Catalog,
    now: datetime,
    registry: Registry,
) -> Result:
    """Judge one target from collected facts. Missing resource: fail; unreadable fact: error."""
    spec = target.binding.check
    ref, common = describe(target, catalog)
    if target.failure:
        return _unresolved(target.failure, ref, common)
    needed = [
        outcomes[fact_key(ref.account_id, ref.region, registry.facts[name], ref.name, ref.parent)]
        for name in spec.facts
    ]
    common["evidence"] = evidence_of(needed)
    if any(outcome.resource_missing for outcome in needed):
        return Result(
            **common,
            status="fail",
            message=f"{ref.label} does not exist; expected it to exist",
            expected={"exists": True},
            observed={"exists": False},
        )
    failed = [(outcome.spec.action, outcome.error) for outcome in needed if outcome.error]
    if failed:
        return _error(
            common,
            "; ".join(f"could not read {a}: {e.code}: {e.message}" for a, e in failed),
            ErrorInfo(code=failed[0][1].code, message=failed[0][1].message),
        )
    values = {outcome.spec.name: outcome.value for outcome in needed}
    values[RESOURCE] = {
        "name": ref.name,
        "arn": ref.arn,
        "region": ref.region,
        "account_id": ref.account_id,
        "parent": ref.parent,
        "environment": target.environment,
        "variables": ref.variables,
    }
    values[NOW] = now.isoformat()
    return _judged(spec, values, target.binding.params, common)


def _error(common: dict[str, Any], message: str, error: ErrorInfo) -> Result:
    return Result(
        **common, status="error", message=message, expected=None, observed=None, error=error
    )


def _unresolved(
    failure: Unassessable | NothingMatches, ref: ResourceRef, common: dict[str, Any]
) -> Result:
    """A target whose resource could not be resolved: a pattern that matched nothing fails,
    any other failure (the account, the listing) is an error."""
    if not isinstance(failure, NothingMatches):
        return _error(
            common,
            f"{ref.name}: {failure.reason}",
            ErrorInfo(code=failure.code, message=failure.reason),
        )
    where = f"account {ref.account_id}, {ref.region}" if ref.account_id else ref.region
    return Result(
        **common,
        status="fail",
        message=f"no {ref.type.label} matches "
        f"{failure.pattern!r} in {where} (listed with {failure.list_action}); expected "
        f"at least one (set allow_empty: true on resources.{failure.group} if none is "
        "acceptable)",
        expected={"matching_resources": ">= 1"},
        observed={"matching_resources": 0, "pattern": failure.pattern},
    )


def _judged(spec: CheckSpec, values: dict[str, Any], params: Any, common: dict[str, Any]) -> Result:
    """The check's verdict; a check that raises is an error, never a pass."""
    try:
        verdict = spec.evaluate(values, params)
    except Exception as exc:  # fail closed
        return _error(
            common,
            f"check could not evaluate: {exc!r}",
            ErrorInfo(code=type(exc).__name__, message=str(exc)),
        )
    return Result(
        **common,
        status="pass" if verdict.passed else "fail",
        message=verdict.message,
        expected=verdict.expected,
        observed=verdict.observed,
    )


def describe(target: Target, catalog: Catalog) -> tuple[ResourceRef, dict[str, Any]]:
    """The target's resource, and what every result of it says whatever its status: the
    check, its controls, the environment, the resource, severity and remediation."""
    spec = target.binding.check
    ref = ResourceRef(
        target.kind,
        target.resource.name,
        target.where.region,
        target.where.account_id,
        target.resource.parent,
        target.resource.variables,
    )
    resource = ResourceInfo(
        type=ref.type.name, name=ref.name, arn=ref.arn, region=ref.region, account_id=ref.account_id
    )
    return ref, {
        "check_id": spec.id,
        "title": spec.title,
        "control_ids": catalog.control_ids_for(spec.id),
        "environment": target.environment,
        "resource": resource,
        "severity": spec.severity,
        "remediation": spec.remediation.format(name=ref.name),
    }


def evidence_of(outcomes: list[FactOutcome]) -> Evidence:
    """The facts a verdict rests on, with their API actions, times and a hash."""
    facts = [
        FactEvidence(
            name=o.spec.name,
            actions=list(o.spec.actions),
            fetched_at=o.fetched_at,
            seconds=o.seconds,
            value=o.value,
        )
        for o in outcomes
    ]
    return Evidence(facts=facts, sha256=evidence_sha256((f.name, f.value) for f in facts))
